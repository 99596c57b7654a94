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
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, "journal", fmt.Sprintf("%016d.log", seq))
}

func (s *Spool) segments() ([]uint64, error) {
	es, err := os.ReadDir(filepath.Join(s.dir, "journal"))
	if err != nil {
		return nil, fmt.Errorf("spool: read journal: %w", err)
	}
	var out []uint64
	for _, e := range es {
		n, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Record kinds.
const (
	recMessage = 'M' // envelope length (4) + envelope JSON + message
	recState   = 'S' // id + "\n" + state JSON
	recDone    = 'D' // id
)

const recHeader = 9 // kind (1) + payload length (4) + CRC-32C of payload (4)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// replay applies one segment's records to the index. A bad or torn record
// ends the segment: in the last one it is a write that was never
// acknowledged; elsewhere it is damage, reported and skipped.
func (s *Spool) replay(seq uint64, last bool) error {
	f, err := os.Open(s.segPath(seq))
	if errors.Is(err, os.ErrNotExist) {
		return nil // collected by the writer while a reader listed
	}
	if err != nil {
		return fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var off int64
	s.live[seq] += 0
	for {
		var h [recHeader]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if err != io.EOF && !last {
				s.log.Warn("spool: truncated segment", "segment", seq, "offset", off)
			}
			return nil
		}
		n := int64(binary.BigEndian.Uint32(h[1:5]))
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil || crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(h[5:9]) {
			if !last {
				s.log.Warn("spool: damaged record; rest of segment skipped", "segment", seq, "offset", off)
			}
			return nil
		}
		switch h[0] {
		case recMessage:
			if len(payload) < 4 {
				break
			}
			el := int64(binary.BigEndian.Uint32(payload[:4]))
			if 4+el > n {
				break
			}
			var env Envelope
			if json.Unmarshal(payload[4:4+el], &env) != nil {
				break
			}
			if old := s.entries[env.ID]; old != nil {
				s.live[old.seg]-- // moved forward by compact
			}
			s.entries[env.ID] = &entry{env: env, seg: seq, off: off + recHeader + 4 + el, len: n - 4 - el}
			s.live[seq]++
		case recState:
			id, js, ok := bytes.Cut(payload, []byte("\n"))
			if e := s.entries[string(id)]; ok && e != nil {
				var st State
				if json.Unmarshal(js, &st) == nil {
					e.state = st
				}
			}
		case recDone:
			if e := s.entries[string(payload)]; e != nil {
				delete(s.entries, string(payload))
				s.live[e.seg]--
			}
		}
		off += recHeader + n
	}
}

// rotate starts a new segment; the caller holds s.mu (or is Open).
func (s *Spool) rotate() error {
	for s.syncing {
		s.syncCond.Wait()
	}
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: sync segment: %w", err)
		}
		s.active.Close()
		s.synced = s.written
	}
	s.seq++
	f, err := os.OpenFile(s.segPath(s.seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if err := syncDir(filepath.Join(s.dir, "journal")); err != nil {
		f.Close()
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.active, s.size = f, 0
	s.live[s.seq] += 0
	s.gc()
	return nil
}

// gc deletes the oldest segments while none of their messages is pending.
// Only a prefix is deleted: a later segment's done and state records may
// refer to messages in earlier ones, never the other way round, so
// deleting in order never resurrects a message at replay. The caller
// holds s.mu.
func (s *Spool) gc() {
	segs := make([]uint64, 0, len(s.live))
	for seq := range s.live {
		segs = append(segs, seq)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	for _, seq := range segs {
		if seq == s.seq || s.live[seq] > 0 {
			return
		}
		if err := os.Remove(s.segPath(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool: remove segment", "segment", seq, "err", err)
			return
		}
		delete(s.live, seq)
	}
}

// compact copies the few pending messages of the oldest segment (with
// their state) into the active one, so that one long-deferred message does
// not keep every later segment on disk; gc then deletes the old segment.
// At replay the later copy of an ID replaces the earlier. The caller
// holds s.mu.
func (s *Spool) compact() {
	if s.compacting || len(s.live) < 3 {
		return
	}
	oldest := s.seq
	for seq := range s.live {
		oldest = min(oldest, seq)
	}
	if oldest == s.seq || s.live[oldest] > compactMax {
		return
	}
	s.compacting = true
	defer func() { s.compacting = false }()
	f, err := os.Open(s.segPath(oldest))
	if err != nil {
		s.log.Warn("spool: compact", "segment", oldest, "err", err)
		return
	}
	defer f.Close()
	type move struct {
		e        *entry
		seg      uint64
		off, len int64
	}
	var moves []move
	var last uint64
	for id, e := range s.entries {
		if e.seg != oldest {
			continue
		}
		msg := make([]byte, e.len)
		if _, err := f.ReadAt(msg, e.off); err != nil {
			s.log.Warn("spool: compact read", "id", id, "err", err)
			return
		}
		ej, _ := json.Marshal(e.env)
		var el [4]byte
		binary.BigEndian.PutUint32(el[:], uint32(len(ej)))
		t, off, err := s.appendRecord(recMessage, el[:], ej, msg)
		if err != nil {
			s.log.Warn("spool: compact", "err", err)
			return
		}
		last = t
		mv := move{e: e, seg: s.seq, off: off + 4 + int64(len(ej)), len: e.len}
		if st := e.state; st.Attempts > 0 || !st.NextAttempt.IsZero() || st.LastError != "" || len(st.Delivered)+len(st.Failed) > 0 {
			sj, _ := json.Marshal(st)
			if t, _, err = s.appendRecord(recState, []byte(id), []byte("\n"), sj); err != nil {
				s.log.Warn("spool: compact", "err", err)
				return
			}
			last = t
		}
		moves = append(moves, mv)
	}
	if len(moves) == 0 || s.commit(last) != nil {
		return
	}
	for _, mv := range moves {
		if s.entries[mv.e.env.ID] != mv.e {
			continue // delivered while we synced; its done record follows our copy
		}
		s.live[mv.e.seg]--
		mv.e.seg, mv.e.off, mv.e.len = mv.seg, mv.off, mv.len
		s.live[mv.seg]++
	}
	s.gc()
}

// compactMax is the most pending messages a segment may hold for compact
// to move them forward.
const compactMax = 16

// appendRecord writes one record to the active segment and returns its
// ticket for commit and the offset of its payload. The caller holds s.mu.
func (s *Spool) appendRecord(kind byte, parts ...[]byte) (ticket uint64, payloadOff int64, err error) {
	if s.active == nil {
		return 0, 0, errClosed
	}
	if s.size >= s.SegmentBytes {
		if err := s.rotate(); err != nil {
			return 0, 0, err
		}
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > 1<<31 {
		return 0, 0, errors.New("spool: record too large")
	}
	buf := make([]byte, recHeader, recHeader+n)
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(n))
	crc := uint32(0)
	for _, p := range parts {
		crc = crc32.Update(crc, crcTable, p)
		buf = append(buf, p...)
	}
	binary.BigEndian.PutUint32(buf[5:9], crc)
	if _, err := s.active.Write(buf); err != nil {
		// The segment may now end in a torn record: start a fresh one so
		// later records stay readable.
		s.rotate()
		return 0, 0, fmt.Errorf("spool: append: %w", err)
	}
	payloadOff = s.size + recHeader
	s.size += int64(len(buf))
	s.written++
	return s.written, payloadOff, nil
}

// commit waits until record ticket is durable. Concurrent callers share
// one fsync: whoever finds no sync running syncs everything written so
// far; the others wait for a sync that started after their write.
// The caller holds s.mu.
func (s *Spool) commit(ticket uint64) error {
	for s.synced < ticket {
		if s.syncing {
			s.syncCond.Wait()
			continue
		}
		s.syncing = true
		target, f := s.written, s.active
		s.mu.Unlock()
		err := f.Sync()
		s.mu.Lock()
		s.syncing = false
		if err == nil && target > s.synced {
			s.synced = target
		}
		s.syncErr = err
		s.syncCond.Broadcast()
		if err != nil {
			return fmt.Errorf("spool: fsync: %w", err)
		}
	}
	return nil
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

// Bury moves queued id to the dead letters with its final state.
func (s *Spool) Bury(id string, st State) error {
	env, rc, err := s.Open(id)
	if err != nil {
		return err
	}
	msg, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	dead := filepath.Join(s.dir, "dead")
	ej, _ := json.Marshal(env)
	sj, _ := json.Marshal(st)
	var b bytes.Buffer
	b.WriteString(deadMagic)
	b.Write(ej)
	b.WriteByte('\n')
	b.Write(msg)
	if err := writeFileSync(filepath.Join(dead, id+".st"), sj); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	if err := writeFileSync(filepath.Join(dead, id+".msg"), b.Bytes()); err != nil {
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

const deadMagic = "SCOP-DEAD 1\n"

func (s *Spool) listDead() ([]Item, error) {
	dir := filepath.Join(s.dir, "dead")
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: list dead: %w", err)
	}
	var items []Item
	for _, e := range es {
		id, ok := strings.CutSuffix(e.Name(), ".msg")
		if !ok {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		br := bufio.NewReader(f)
		m, _ := br.ReadString('\n')
		line, _ := br.ReadBytes('\n')
		f.Close()
		var env Envelope
		if m != deadMagic || json.Unmarshal(line, &env) != nil {
			s.log.Warn("spool: unreadable dead letter", "file", e.Name())
			continue
		}
		var st State
		if b, err := os.ReadFile(filepath.Join(dir, id+".st")); err == nil {
			json.Unmarshal(b, &st)
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		items = append(items, Item{Envelope: env, State: st, Size: size, Dead: true})
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
	_, err = f.Write(b)
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
