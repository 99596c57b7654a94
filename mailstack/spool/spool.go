// Package spool is the receiver's durable queue: an accepted message is
// written with its envelope, fsync'd (file, then directory) and only then
// acknowledged with 250 (RFC 5321 §6.1: once accepted, the server is
// responsible for the message). A Deliverer then hands messages to an LMTP
// server (RFC 2033) with per-recipient statuses and exponential backoff.
//
// Layout under the spool directory:
//
//	tmp/<id>        being written; removed at Open (never acknowledged)
//	queue/<id>.msg  envelope line + message, waiting for delivery
//	queue/<id>.st   delivery state (per-recipient results, attempts)
//	dead/<id>.msg   dead letters (permanent failure or too old)
//	dead/<id>.st    why
package spool

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

const magic = "SCOP-SPOOL 1\n"

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

// State is a message's delivery progress, rewritten atomically after every
// attempt so a restart neither loses nor repeats a recipient.
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

// Spool is a directory of messages. Its methods are safe for concurrent use.
type Spool struct {
	dir     string
	log     *slog.Logger
	queue   *dirSyncer
	notify  chan struct{}
	mu      sync.Mutex
	pending map[string]time.Time // id -> next attempt
}

// Open creates or opens the spool at dir and removes unacknowledged
// partial writes left by a crash.
func Open(dir string, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, sub := range []string{"tmp", "queue", "dead"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("spool: create %s: %w", sub, err)
		}
	}
	tmps, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("spool: read tmp: %w", err)
	}
	for _, e := range tmps {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	s := &Spool{
		dir:     dir,
		log:     log,
		queue:   &dirSyncer{path: filepath.Join(dir, "queue")},
		notify:  make(chan struct{}, 1),
		pending: map[string]time.Time{},
	}
	s.queue.cond = sync.NewCond(&s.queue.mu)
	items, err := s.list("queue")
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		s.pending[it.Envelope.ID] = it.State.NextAttempt
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
// the received data) under env and returns once it is durable: the file
// and the queue directory are fsync'd. env.ID is set if empty.
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
	hdr, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("spool: encode envelope: %w", err)
	}
	tmp := filepath.Join(s.dir, "tmp", env.ID)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create %s: %w", env.ID, err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	w.WriteString(magic)
	w.Write(hdr)
	w.WriteByte('\n')
	for _, p := range parts {
		w.Write(p)
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, "queue", env.ID+".msg"))
	}
	if err == nil {
		err = s.queue.Sync()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: write %s: %w", env.ID, err)
	}
	s.mu.Lock()
	s.pending[env.ID] = time.Time{}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Open returns the envelope and a reader of the message of queued id; the
// caller closes the reader.
func (s *Spool) Open(id string) (*Envelope, io.ReadCloser, error) {
	return openMsg(filepath.Join(s.dir, "queue", id+".msg"))
}

func openMsg(path string) (*Envelope, io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, fmt.Errorf("spool: open: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	env, err := readEnvelope(br)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("spool: %s: %w", filepath.Base(path), err)
	}
	return env, struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

func readEnvelope(br *bufio.Reader) (*Envelope, error) {
	m, err := br.ReadString('\n')
	if err != nil || m != magic {
		return nil, errors.New("bad spool file header")
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read envelope: %w", err)
	}
	var env Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	return &env, nil
}

// State returns the delivery state of queued id (zero if never attempted).
func (s *Spool) State(id string) (State, error) {
	return readState(filepath.Join(s.dir, "queue", id+".st"))
}

func readState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("spool: read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("spool: decode state %s: %w", filepath.Base(path), err)
	}
	return st, nil
}

// SaveState durably records the delivery state of queued id.
func (s *Spool) SaveState(id string, st State) error {
	if err := s.writeState(filepath.Join(s.dir, "queue"), id, st); err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.pending[id]; ok {
		s.pending[id] = st.NextAttempt
	}
	s.mu.Unlock()
	return nil
}

func (s *Spool) writeState(dir, id string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("spool: encode state: %w", err)
	}
	tmp := filepath.Join(s.dir, "tmp", id+".st")
	if err := writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("spool: write state %s: %w", id, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, id+".st")); err != nil {
		return fmt.Errorf("spool: write state %s: %w", id, err)
	}
	return syncDir(dir)
}

// Remove deletes queued id once every recipient has a final result.
func (s *Spool) Remove(id string) error {
	q := filepath.Join(s.dir, "queue")
	if err := os.Remove(filepath.Join(q, id+".msg")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: remove %s: %w", id, err)
	}
	os.Remove(filepath.Join(q, id+".st"))
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
	return s.queue.Sync()
}

// Bury moves queued id to the dead letters with its final state.
func (s *Spool) Bury(id string, st State) error {
	dead := filepath.Join(s.dir, "dead")
	if err := s.writeState(dead, id, st); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(s.dir, "queue", id+".msg"), filepath.Join(dead, id+".msg")); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	if err := syncDir(dead); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	return s.Remove(id)
}

// Due returns the queued IDs whose next attempt is at or before now, oldest
// first, and the earliest future attempt time (zero if none).
func (s *Spool) Due(now time.Time) (ids []string, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.pending {
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
	q, err := s.list("queue")
	if err != nil {
		return nil, err
	}
	d, err := s.list("dead")
	if err != nil {
		return nil, err
	}
	return append(q, d...), nil
}

func (s *Spool) list(sub string) ([]Item, error) {
	dir := filepath.Join(s.dir, sub)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: list %s: %w", sub, err)
	}
	var items []Item
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".msg")
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		env, rc, err := openMsg(path)
		if err != nil {
			// A .msg is renamed into place only when complete, so this
			// is outside damage: keep the file, skip it, say so.
			s.log.Warn("spool: unreadable message", "file", path, "err", err)
			continue
		}
		rc.Close()
		st, err := readState(filepath.Join(dir, id+".st"))
		if err != nil {
			s.log.Warn("spool: unreadable state", "id", id, "err", err)
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		items = append(items, Item{Envelope: *env, State: st, Size: size, Dead: sub == "dead"})
	}
	return items, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, bytes.NewReader(b))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// dirSyncer fsyncs one directory for many concurrent writers: a caller
// whose rename happened before it asked waits for a sync that started
// after it asked, so concurrent enqueues share one directory fsync.
type dirSyncer struct {
	path    string
	mu      sync.Mutex
	cond    *sync.Cond
	asked   uint64
	done    uint64
	running bool
	err     error
}

func (d *dirSyncer) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	ticket := d.asked
	for d.done < ticket {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		target := d.asked
		d.mu.Unlock()
		err := syncDir(d.path)
		d.mu.Lock()
		d.running = false
		d.done = target
		d.err = err
		d.cond.Broadcast()
	}
	return d.err
}
