package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

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
