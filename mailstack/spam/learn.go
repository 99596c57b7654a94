package spam

import (
	"context"
	"fmt"
)

var _ Store = (*Filter)(nil)

// Learn adds one message as ham or spam. The counts are committed to the
// store before the in-memory table changes, so a returned nil means the
// lesson survives a restart.
func (f *Filter) Learn(ctx context.Context, raw []byte, isSpam bool) error {
	feats, _ := Tokenize(raw)
	d := NewDelta()
	d.Add(feats, isSpam, 1)
	return f.Apply(ctx, d)
}

// Unlearn removes a message learnt earlier with the same isSpam, e.g. to
// move it from spam to ham: Unlearn(msg, true) then Learn(msg, false).
// Counts never go below zero.
func (f *Filter) Unlearn(ctx context.Context, raw []byte, isSpam bool) error {
	feats, _ := Tokenize(raw)
	d := NewDelta()
	d.Add(feats, isSpam, -1)
	return f.Apply(ctx, d)
}

// Apply writes d through to the store, then to memory. It makes a Filter
// usable as the Store of TrainPaths, training the live filter.
func (f *Filter) Apply(ctx context.Context, d *Delta) error {
	// learnMu orders store and memory updates alike; the store write runs
	// outside mu so that classification goes on while a batch commits.
	f.learnMu.Lock()
	defer f.learnMu.Unlock()
	if err := f.store.Apply(ctx, d); err != nil {
		return fmt.Errorf("spam: learn: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, dc := range d.Features {
		c := f.tokens[h]
		c.ham = addClamp(c.ham, dc[0])
		c.spam = addClamp(c.spam, dc[1])
		if c.ham == 0 && c.spam == 0 {
			delete(f.tokens, h)
		} else {
			f.tokens[h] = c
		}
	}
	f.nham = max(0, f.nham+d.Ham)
	f.nspm = max(0, f.nspm+d.Spam)
	return nil
}

// Load implements Store from memory.
func (f *Filter) Load(_ context.Context, fn func(uint64, uint32, uint32)) (int, int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for h, c := range f.tokens {
		fn(h, c.ham, c.spam)
	}
	return f.nham, f.nspm, nil
}

func addClamp(v uint32, d int32) uint32 {
	n := int64(v) + int64(d)
	if n < 0 {
		return 0
	}
	return uint32(n)
}

// Reload replaces the in-memory counts with the store's, e.g. after
// `scop spam train` wrote to the database of a running server.
func (f *Filter) Reload(ctx context.Context) error {
	f.learnMu.Lock()
	defer f.learnMu.Unlock()
	tokens := map[uint64]counts{}
	nham, nspam, err := f.store.Load(ctx, func(h uint64, ham, spam uint32) {
		tokens[h] = counts{ham, spam}
	})
	if err != nil {
		return fmt.Errorf("spam: reload: %w", err)
	}
	f.mu.Lock()
	f.tokens, f.nham, f.nspm = tokens, nham, nspam
	f.mu.Unlock()
	return nil
}
