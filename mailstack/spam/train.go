package spam

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// MaxMessageBytes bounds a message read for training; larger ones are skipped.
const MaxMessageBytes = 32 << 20

// trainBatch is how many messages go into one store transaction.
const trainBatch = 500

// TrainStats counts what TrainPaths learnt.
type TrainStats struct {
	Ham, Spam int
	// Skipped counts unreadable or oversized messages.
	Skipped int
}

// TrainPaths learns every message under hamPaths as ham and under
// spamPaths as spam. A path may be a maildir (cur/ and new/ are walked,
// tmp/ skipped), a directory of message files (.eml or any name, searched
// recursively, dot-files and .json skipped), a single message file, or an
// mbox file (split at "From " envelope lines). Counts are applied to store
// in batches; pass a *Filter to train a running filter. progress, if not
// nil, is called after each message with done and the total count.
func TrainPaths(ctx context.Context, store Store, hamPaths, spamPaths []string, progress func(done, total int)) (TrainStats, error) {
	var srcs []source
	for _, p := range hamPaths {
		s, err := listSources(p, false)
		if err != nil {
			return TrainStats{}, err
		}
		srcs = append(srcs, s...)
	}
	for _, p := range spamPaths {
		s, err := listSources(p, true)
		if err != nil {
			return TrainStats{}, err
		}
		srcs = append(srcs, s...)
	}
	total := 0
	for _, s := range srcs {
		total += s.count
	}

	type item struct {
		raw    []byte
		isSpam bool
	}
	type tokenized struct {
		feats  []uint64
		isSpam bool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan item, 64)
	results := make(chan tokenized, 64)
	var stats TrainStats
	var readErr error
	go func() {
		defer close(items)
		for _, s := range srcs {
			err := s.each(func(raw []byte) error {
				if len(raw) > MaxMessageBytes {
					stats.Skipped++ // only this goroutine writes Skipped until results are drained
					return nil
				}
				select {
				case items <- item{raw, s.isSpam}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				feats, _ := Tokenize(it.raw)
				results <- tokenized{feats, it.isSpam}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	d := NewDelta()
	done, pending := 0, 0
	var applyErr error
	for r := range results {
		if applyErr != nil {
			continue // drain
		}
		d.Add(r.feats, r.isSpam, 1)
		if r.isSpam {
			stats.Spam++
		} else {
			stats.Ham++
		}
		done++
		pending++
		if pending >= trainBatch {
			if err := store.Apply(ctx, d); err != nil {
				applyErr = err
				cancel()
				continue
			}
			d, pending = NewDelta(), 0
		}
		if progress != nil {
			progress(done, total)
		}
	}
	if applyErr != nil {
		return stats, fmt.Errorf("spam: train: %w", applyErr)
	}
	if readErr != nil {
		return stats, fmt.Errorf("spam: train: %w", readErr)
	}
	if err := store.Apply(ctx, d); err != nil {
		return stats, fmt.Errorf("spam: train: %w", err)
	}
	return stats, nil
}

// source is one file holding one message or an mbox of count messages.
type source struct {
	path   string
	mbox   bool
	count  int
	isSpam bool
}

func (s source) each(fn func([]byte) error) error {
	if !s.mbox {
		raw, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		return fn(raw)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	defer f.Close()
	return SplitMbox(f, fn)
}

// listSources finds the messages under path.
func listSources(path string, isSpam bool) ([]source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("spam: train: %w", err)
	}
	if !fi.IsDir() {
		s, err := fileSource(path, isSpam)
		if err != nil {
			return nil, err
		}
		return []source{s}, nil
	}
	var out []source
	err = filepath.WalkDir(path, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := de.Name()
		if p != path && strings.HasPrefix(name, ".") {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if de.IsDir() {
			if name == "tmp" && isMaildir(filepath.Dir(p)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() || strings.HasSuffix(name, ".json") || name == "cmds" {
			return nil
		}
		s, err := fileSource(p, isSpam)
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spam: train: walk %s: %w", path, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func isMaildir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && fi.IsDir()
}

// fileSource decides whether a file is an mbox (more than one envelope
// line) and counts its messages.
func fileSource(p string, isSpam bool) (source, error) {
	f, err := os.Open(p)
	if err != nil {
		return source{}, fmt.Errorf("spam: train: %w", err)
	}
	defer f.Close()
	n := 0
	if err := SplitMbox(f, func([]byte) error { n++; return nil }); err != nil {
		return source{}, fmt.Errorf("spam: train: %s: %w", p, err)
	}
	return source{path: p, mbox: n > 1, count: max(n, 1), isSpam: isSpam}, nil
}

// envelopeRE matches an mbox "From " separator line: sender then a date
// starting with a weekday, which body text starting with "From " rarely has.
var envelopeRE = regexp.MustCompile(`^From \S+ +(Mon|Tue|Wed|Thu|Fri|Sat|Sun) `)

// SplitMbox calls fn with each message of an mbox (RFC 4155). Messages are
// split at envelope lines that start the file or follow an empty line;
// mboxrd ">From " quoting is undone. A file with no envelope line is one
// message.
func SplitMbox(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur bytes.Buffer
	prevEmpty := true
	started := false
	flush := func() error {
		if cur.Len() == 0 {
			return nil
		}
		msg := bytes.Clone(cur.Bytes())
		cur.Reset()
		return fn(msg)
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			cur.Write(line)
			prevEmpty = false
			continue
		}
		if len(line) > 0 {
			if prevEmpty && envelopeRE.Match(line) {
				if started || cur.Len() > 0 {
					if err := flush(); err != nil {
						return err
					}
				}
				started = true
				cur.Write(line) // Tokenize drops it
				prevEmpty = false
			} else {
				if started && bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) && line[0] == '>' {
					line = line[1:]
				}
				if cur.Len() > MaxMessageBytes {
					// keep counting lines but stop buffering a runaway message
				} else {
					cur.Write(line)
				}
				prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
			}
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
	}
}
