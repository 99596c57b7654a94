// Package spool is the receiver's durable queue: an accepted message is
// appended with its envelope to a journal segment and fsync'd before it is
// acknowledged with 250 (RFC 5321 §6.1: once accepted, the server is
// responsible for the message). Concurrent enqueues share one fsync (group
// commit), so throughput does not pay one file creation and two fsyncs per
// message. A Deliverer then hands messages to an LMTP server (RFC 2033)
// with per-recipient statuses and exponential backoff.
//
// Layout under the spool directory:
//
//	journal/<seq>.log  records: message (M), delivery state (S), done (D)
//	dead/<id>.msg      dead letters (permanent failure or too old)
//	dead/<id>.st       why
//
// Segments are deleted oldest first once none of their messages is
// pending; the few messages still pending in the oldest segment are copied
// forward (compact) so a long-deferred message does not pin later ones.
// At Open the segments are replayed in order; a torn record at the end of
// a segment was never acknowledged and is dropped.
package spool

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

var errClosed = errors.New("spool: closed")

// ErrNotFound is returned when a message ID is not in the queue.
var ErrNotFound = errors.New("spool: no such message")

// Envelope is the SMTP envelope of a spooled message.
type Envelope struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	To       []string  `json:"to"`
	Received time.Time `json:"received"`
	RemoteIP string    `json:"remote_ip,omitempty"`
	Helo     string    `json:"helo,omitempty"`
	// UTF8 is set when the client used SMTPUTF8 (RFC 6531).
	UTF8 bool `json:"utf8,omitempty"`
	// Spam is the receiver's verdict, for the delivery target.
	Spam string `json:"spam,omitempty"`
}

// State is a message's delivery progress, recorded after every attempt so
// a restart neither loses nor repeats a recipient.
type State struct {
	Attempts    int               `json:"attempts"`
	NextAttempt time.Time         `json:"next_attempt"`
	LastError   string            `json:"last_error,omitempty"`
	Delivered   map[string]string `json:"delivered,omitempty"` // rcpt -> reply
	Failed      map[string]string `json:"failed,omitempty"`    // rcpt -> permanent reply
}

// Pending returns the recipients not yet delivered or failed.
func (st *State) Pending(env *Envelope) []string {
	var out []string
	for _, r := range env.To {
		if _, ok := st.Delivered[r]; ok {
			continue
		}
		if _, ok := st.Failed[r]; ok {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Item is one spooled message as listed by List.
type Item struct {
	Envelope Envelope
	State    State
	Size     int64
	Dead     bool
}

// entry locates a pending message in the journal.
type entry struct {
	env      Envelope
	state    State
	seg      uint64
	off, len int64 // of the message bytes within the segment
}

// Spool is a journal of messages. Its methods are safe for concurrent use.
type Spool struct {
	dir    string
	log    *slog.Logger
	notify chan struct{}
	// SegmentBytes is the size past which a new segment is started.
	SegmentBytes int64

	mu       sync.Mutex
	active   *os.File
	seq      uint64
	size     int64
	live     map[uint64]int // segment -> pending messages
	entries  map[string]*entry
	syncCond *sync.Cond
	written  uint64 // records written
	synced   uint64 // records known durable
	syncing  bool
	syncErr  error
	// compacting guards compact against re-entry.
	compacting bool
	lock       *os.File // held while open for writing
}

// ErrLocked is returned by Open when another process has the spool open.
var ErrLocked = errors.New("spool: in use by another process")

// Open opens (creating) the spool at dir for writing and replays its
// journal. One process at a time may have a spool open for writing (an
// advisory lock on journal/LOCK, released by the kernel even on kill -9).
func Open(dir string, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(filepath.Join(dir, "journal"), 0o700); err != nil {
		return nil, fmt.Errorf("spool: create journal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "journal", "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	s, err := open(dir, log)
	if err == nil {
		s.lock = lock
		err = s.rotate()
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly reads the spool at dir without taking the lock, for
// listing while a receiver runs. Its writing methods fail.
func OpenReadOnly(dir string, log *slog.Logger) (*Spool, error) {
	return open(dir, log)
}

func open(dir string, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, sub := range []string{"journal", "dead"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("spool: create %s: %w", sub, err)
		}
	}
	s := &Spool{dir: dir, log: log, notify: make(chan struct{}, 1), SegmentBytes: 64 << 20,
		live: map[uint64]int{}, entries: map[string]*entry{}}
	s.syncCond = sync.NewCond(&s.mu)
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for i, seg := range segs {
		if err := s.replay(seg, i == len(segs)-1); err != nil {
			return nil, err
		}
	}
	if len(segs) > 0 {
		s.seq = segs[len(segs)-1]
	}
	return s, nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// NewID returns a fresh message ID that sorts by arrival time.
func NewID() string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x-%s", time.Now().UnixNano(), hex.EncodeToString(b[:]))
}

// Enqueue stores the message made of parts (header lines to prepend, then
// the received data) under env and returns once it is durable. env.ID is
// set if empty.
func (s *Spool) Enqueue(env *Envelope, parts ...[]byte) error {
	if env.ID == "" {
		env.ID = NewID()
	}
	if !validID(env.ID) {
		return fmt.Errorf("spool: invalid id %q", env.ID)
	}
	if env.Received.IsZero() {
		env.Received = time.Now().UTC()
	}
	ej, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("spool: encode envelope: %w", err)
	}
	var el [4]byte
	binary.BigEndian.PutUint32(el[:], uint32(len(ej)))
	size := int64(0)
	for _, p := range parts {
		size += int64(len(p))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.entries[env.ID]; dup {
		return fmt.Errorf("spool: duplicate id %s", env.ID)
	}
	ticket, off, err := s.appendRecord(recMessage, append([][]byte{el[:], ej}, parts...)...)
	if err != nil {
		return err
	}
	seg := s.seq
	if err := s.commit(ticket); err != nil {
		return err
	}
	s.entries[env.ID] = &entry{env: *env, seg: seg, off: off + 4 + int64(len(ej)), len: size}
	s.live[seg]++
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Open returns the envelope and a reader of the message of queued id; the
// caller closes the reader.
func (s *Spool) Open(id string) (*Envelope, io.ReadCloser, error) {
	s.mu.Lock()
	e := s.entries[id]
	var env Envelope
	if e != nil {
		env = e.env
	}
	s.mu.Unlock()
	if e == nil {
		return nil, nil, ErrNotFound
	}
	f, err := os.Open(s.segPath(e.seg))
	if err != nil {
		return nil, nil, fmt.Errorf("spool: open %s: %w", id, err)
	}
	return &env, struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, e.off, e.len), f}, nil
}

// State returns the delivery state of queued id (zero if never attempted).
func (s *Spool) State(id string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return State{}, ErrNotFound
	}
	return e.state, nil
}

// SaveState durably records the delivery state of queued id.
func (s *Spool) SaveState(id string, st State) error {
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("spool: encode state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return ErrNotFound
	}
	ticket, _, err := s.appendRecord(recState, []byte(id), []byte("\n"), js)
	if err != nil {
		return err
	}
	if err := s.commit(ticket); err != nil {
		return err
	}
	e.state = st
	return nil
}

// Remove deletes queued id once every recipient has a final result.
func (s *Spool) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return nil
	}
	ticket, _, err := s.appendRecord(recDone, []byte(id))
	if err != nil {
		return err
	}
	if err := s.commit(ticket); err != nil {
		return err
	}
	delete(s.entries, id)
	s.live[e.seg]--
	s.gc()
	s.compact()
	return nil
}

// Due returns the queued IDs whose next attempt is at or before now, oldest
// first, and the earliest future attempt time (zero if none).
func (s *Spool) Due(now time.Time) (ids []string, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.entries {
		t := e.state.NextAttempt
		if !t.After(now) {
			ids = append(ids, id)
		} else if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	sort.Strings(ids)
	return ids, next
}

// Notify is signalled (without blocking) after each Enqueue.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// List returns the queued messages, then the dead letters, oldest first.
func (s *Spool) List() ([]Item, error) {
	s.mu.Lock()
	var items []Item
	for _, e := range s.entries {
		items = append(items, Item{Envelope: e.env, State: e.state, Size: e.len})
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].Envelope.ID < items[j].Envelope.ID })
	dead, err := s.listDead()
	if err != nil {
		return nil, err
	}
	return append(items, dead...), nil
}

// Close syncs and closes the active segment.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		return nil
	}
	err := s.active.Sync()
	if cerr := s.active.Close(); err == nil {
		err = cerr
	}
	s.active = nil
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
	return err
}
