package rooms

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"scop/homeserver/storage"
)

// gatherWait bounds how long a commit waits for requests still being
// built to join it.
const gatherWait = 2 * time.Millisecond

// maxBatch bounds how many submissions one transaction merges, so a
// flood of writers still gets regular acknowledgements.
const maxBatch = 512

// submission is one request's writes waiting for the group committer.
type submission struct {
	batch *storage.Batch
	// after runs on the committer goroutine once the batch is durable and
	// before the notifier advances, in commit order: it publishes the
	// writes to the in-memory caches that sync reads.
	after func()
	done  chan error
}

// committer batches concurrent writers: a single goroutine collects the
// pending submissions, assigns stream positions in submission order,
// writes them in one transaction (one fsync), then publishes and
// acknowledges. Positions are therefore increasing in commit order, which
// is what lets a sync token never skip or repeat an event.
type committer struct {
	db      storage.RoomsDB
	queue   chan *submission
	pos     int64 // last assigned stream position; committer goroutine only
	notify  *notifier
	onFail  func(error)
	observe func(int)
	// building counts requests between entering the service and
	// submitting: the committer waits briefly for them so that writers
	// arriving together share one fsync instead of alternating.
	building atomic.Int64
	recent   [8]int // sizes of the last commits (committer goroutine only)
	recentAt int
	lastDur  time.Duration // duration of the last commit
	closeMu  sync.RWMutex
	closed   bool
	stopped  chan struct{}
}

func newCommitter(db storage.RoomsDB, startPos int64, n *notifier, onFail func(error), observe func(int)) *committer {
	c := &committer{db: db, queue: make(chan *submission, maxBatch), pos: startPos, notify: n, onFail: onFail,
		observe: observe, stopped: make(chan struct{})}
	go c.run()
	return c
}

// submit queues a batch; the returned channel yields the commit result.
// Callers that need per-room ordering submit while holding the room lock.
func (c *committer) submit(b *storage.Batch, after func()) chan error {
	s := &submission{batch: b, after: after, done: make(chan error, 1)}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		s.done <- errClosed
		return s.done
	}
	c.queue <- s
	return s.done
}

var errClosed = errors.New("rooms: service is shutting down")

// wait blocks until done yields or ctx ends. The write still completes
// (or fails) on its own after ctx ends; only the caller stops waiting.
func wait(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops accepting submissions, commits the queued ones and returns
// when the committer has finished.
func (c *committer) close() {
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.closeMu.Unlock()
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	subs := make([]*submission, 0, maxBatch)
	for {
		first, ok := <-c.queue
		if !ok {
			return
		}
		subs = append(subs[:0], first)
		// Writers that arrived together recently are likely to arrive
		// together again: wait a little (at most two thirds of a commit's
		// duration) for as many as the recent peak, or for requests
		// still being built, so they share one fsync instead of
		// alternating between two half-full commits.
		target := 0
		for _, n := range c.recent {
			target = max(target, n)
		}
		var deadline *time.Timer
	drain:
		for len(subs) < maxBatch {
			select {
			case s, ok := <-c.queue:
				if !ok {
					break drain
				}
				subs = append(subs, s)
				continue
			default:
			}
			if len(subs) >= target && c.building.Load() == 0 {
				break
			}
			if deadline == nil {
				deadline = time.NewTimer(min(gatherWait, c.lastDur*2/3))
			}
			select {
			case s, ok := <-c.queue:
				if !ok {
					break drain
				}
				subs = append(subs, s)
			case <-deadline.C:
				break drain
			}
		}
		if deadline != nil {
			deadline.Stop()
		}
		c.recent[c.recentAt] = len(subs)
		c.recentAt = (c.recentAt + 1) % len(c.recent)
		start := time.Now()
		c.commit(subs)
		c.lastDur = time.Since(start)
	}
}

func (c *committer) commit(subs []*submission) {
	if c.observe != nil {
		c.observe(len(subs))
	}
	start := c.pos
	merged := &storage.Batch{}
	for _, s := range subs {
		c.assign(s.batch)
		merged.Merge(s.batch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := c.db.Write(ctx, merged)
	cancel()
	if err != nil {
		// Nothing was written: give the positions back so the stream
		// stays gapless, and let the service drop caches that already
		// reflect the failed writes.
		c.pos = start
		c.onFail(err)
		for _, s := range subs {
			s.done <- err
		}
		return
	}
	for _, s := range subs {
		if s.after != nil {
			s.after()
		}
	}
	c.notify.advance(c.pos)
	for _, s := range subs {
		s.done <- nil
	}
}

// assign gives each event and account data entry of b the next stream
// position, and propagates them to the room heads and memberships.
func (c *committer) assign(b *storage.Batch) {
	for i := range b.Events {
		c.pos++
		b.Events[i].Pos = c.pos
	}
	// A batch usually holds one request's writes, a room and an event or
	// a few: a scan then costs less than a map for every message.
	if len(b.Rooms)*len(b.Events) <= 256 {
		for i := range b.Rooms {
			for j := len(b.Events) - 1; j >= 0; j-- {
				if b.Events[j].RoomNID == b.Rooms[i].NID {
					b.Rooms[i].LastPos = b.Events[j].Pos
					break
				}
			}
		}
	} else {
		last := make(map[int64]int64, len(b.Rooms))
		for _, e := range b.Events {
			last[e.RoomNID] = e.Pos
		}
		for i := range b.Rooms {
			if p, ok := last[b.Rooms[i].NID]; ok {
				b.Rooms[i].LastPos = p
			}
		}
	}
	if len(b.Memberships) > 0 {
		byNID := make(map[int64]int64, len(b.Events))
		for _, e := range b.Events {
			byNID[e.NID] = e.Pos
		}
		for i := range b.Memberships {
			b.Memberships[i].Pos = byNID[b.Memberships[i].EventNID]
		}
	}
	for i := range b.AccountData {
		c.pos++
		b.AccountData[i].Pos = c.pos
	}
	for i := range b.Receipts {
		c.pos++
		b.Receipts[i].Pos = c.pos
	}
}

// notifier wakes long-polling syncs when the stream advances: a channel
// that is closed and replaced on every advance, so any number of waiters
// wake at once without polling.
type notifier struct {
	mu  sync.Mutex
	pos int64
	gen int64 // bumped for ephemeral changes (typing) that have no position
	ch  chan struct{}
}

func newNotifier(pos int64) *notifier { return &notifier{pos: pos, ch: make(chan struct{})} }

func (n *notifier) advance(pos int64) {
	n.mu.Lock()
	if pos > n.pos {
		n.pos = pos
	}
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// poke wakes waiters without moving the stream (ephemeral events).
func (n *notifier) poke() {
	n.mu.Lock()
	n.gen++
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// current returns the committed stream position and a channel closed at
// the next change.
func (n *notifier) current() (int64, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pos, n.ch
}
