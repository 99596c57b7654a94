package rooms

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// History visibility (Client-Server API, "History visibility") judges each
// event by the m.room.history_visibility in force at it and by the
// reader's membership at it. Loading the state at every event would be
// slow, and both values rarely change, so each room keeps a visIndex: the
// stream positions where history_visibility or anyone's membership
// changed. From it a reader's visible part of the timeline is a short
// list of spans, and every read (sync, /messages, /context, /event,
// /relations, /threads, /search) scans only those spans.

// change is a value taking effect at an event: the state after the event
// at pos holds val.
type change struct {
	pos int64
	val string
}

// visIndex records a room's history_visibility and membership changes up
// to a stream position. It grows as events commit; it never shrinks
// (state events are never removed from history).
type visIndex struct {
	mu      sync.RWMutex
	upTo    int64 // events at or below upTo are indexed
	hv      []change
	members map[string][]change // user → membership changes
}

// span is a visible stretch of a timeline: lo < pos <= hi.
type span struct{ lo, hi int64 }

// serviceExtras is the Service's read-side state: visibility indexes and
// the presence tracker. Its zero value is ready to use.
type serviceExtras struct {
	vis      sync.Map // room ID → *visEntry
	presence *Presence
	mu       sync.Mutex
}

type visEntry struct {
	r  *room
	ix *visIndex
}

func (s *Service) extras() *serviceExtras { return &s.extra }

// visIndexOf returns r's index, extended to the committed position.
func (s *Service) visIndexOf(ctx context.Context, r *room) (*visIndex, error) {
	x := s.extras()
	var ix *visIndex
	if e, ok := x.vis.Load(r.id); ok && e.(*visEntry).r == r {
		ix = e.(*visEntry).ix
	} else {
		// A reloaded room (after a failed write) gets a fresh index.
		ix = &visIndex{members: map[string][]change{}}
		x.vis.Store(r.id, &visEntry{r: r, ix: ix})
	}
	if err := s.extendIndex(ctx, r, ix, s.committedPos()); err != nil {
		return nil, err
	}
	return ix, nil
}

// extendIndex indexes r's events in (ix.upTo, hi]: from the in-memory
// recent events when they reach back far enough, else from the database
// (once per room after a start), reading only the room's state events of
// the two types through an index, never its whole timeline.
func (s *Service) extendIndex(ctx context.Context, r *room, ix *visIndex, hi int64) error {
	ix.mu.RLock()
	done := ix.upTo >= hi
	ix.mu.RUnlock()
	if done {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.upTo >= hi {
		return nil
	}
	r.view.RLock()
	recent, floor := r.recent, r.floor
	r.view.RUnlock()
	if floor <= ix.upTo {
		for _, e := range recent {
			if e.Pos <= ix.upTo || e.Pos > hi {
				continue
			}
			ix.add(e.Pos, e.Type, e.StateKey, func() string {
				if e.Type == spec.MRoomMember {
					return e.Membership()
				}
				return historyVisibility(e)
			})
		}
		ix.upTo = hi
		return nil
	}
	s.namesMu.Lock()
	var typeNIDs []int64
	for _, t := range []string{spec.MRoomHistoryVisibility, spec.MRoomMember} {
		if nid, ok := s.types[t]; ok {
			typeNIDs = append(typeNIDs, nid)
		}
	}
	s.namesMu.Unlock()
	batch := visIndexBatch
	lo := ix.upTo
	for lo < hi && len(typeNIDs) > 0 {
		rows, err := s.db.RoomStateChanges(ctx, r.nid, typeNIDs, lo, hi, batch)
		if err != nil {
			// Keep what was read: the rows up to lo are indexed, and a
			// retry (a cancelled long poll asks again) must neither add
			// them twice nor start a long scan from the beginning.
			ix.upTo = lo
			return fmt.Errorf("visibility index of %s: %w", r.id, err)
		}
		for _, sc := range rows {
			lo = sc.Pos
			ix.addStored(sc.Pos, sc.PDU)
		}
		if len(rows) < batch {
			break
		}
	}
	ix.upTo = hi
	return nil
}

// visIndexBatch is how many rows one database read of extendIndex takes
// (a variable so that tests can make scans span several reads).
var visIndexBatch = 1000

// addStored records one stored state event (ix.mu held).
func (ix *visIndex) addStored(pos int64, pdu []byte) {
	typ := gjson.GetBytes(pdu, "type").Str
	key := gjson.GetBytes(pdu, "state_key")
	if !key.Exists() {
		return
	}
	k := key.Str
	ix.add(pos, typ, &k, func() string {
		if typ == spec.MRoomMember {
			return gjson.GetBytes(pdu, "content.membership").Str
		}
		return gjson.GetBytes(pdu, "content.history_visibility").Str
	})
}

// add records one event (ix.mu held).
func (ix *visIndex) add(pos int64, typ string, key *string, val func() string) {
	if key == nil {
		return
	}
	switch {
	case typ == spec.MRoomHistoryVisibility && *key == "":
		ix.hv = append(ix.hv, change{pos, val()})
	case typ == spec.MRoomMember:
		ix.members[*key] = append(ix.members[*key], change{pos, val()})
	}
}

// valueBefore returns the value in force just before pos ("" if none).
func valueBefore(cs []change, pos int64) string {
	i := sort.Search(len(cs), func(i int) bool { return cs[i].pos >= pos })
	if i == 0 {
		return ""
	}
	return cs[i-1].val
}

// spans returns the parts of the timeline up to upTo that userID may see,
// ascending. Between two change points (of history_visibility or of the
// user's membership) the rules give one answer for every event; a change
// event itself is visible if the rules allow it before or after it (the
// spec's rule for history_visibility events). The user's own membership
// events are always visible to the user (the spec's before-or-after rule
// would hide a rejected invite's leave, which the client needs to see).
func (ix *visIndex) spans(userID string, upTo int64) []span {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	mem := ix.members[userID]
	var lastJoin int64 = -1
	for _, c := range mem {
		if c.val == spec.Join {
			lastJoin = c.pos
		}
	}
	points := make([]int64, 0, len(ix.hv)+len(mem))
	own := make(map[int64]bool, len(mem))
	for _, c := range ix.hv {
		points = append(points, c.pos)
	}
	for _, c := range mem {
		points = append(points, c.pos)
		own[c.pos] = true
	}
	sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
	var out []span
	addRange := func(lo, hi int64) { // lo < pos <= hi
		hi = min(hi, upTo)
		if lo >= hi {
			return
		}
		if n := len(out); n > 0 && out[n-1].hi >= lo {
			out[n-1].hi = max(out[n-1].hi, hi)
			return
		}
		out = append(out, span{lo, hi})
	}
	// visibleAt reports whether an event at pos, judged by the state just
	// before it, is visible.
	visibleAt := func(pos int64, after bool) bool {
		hv, m := valueBefore(ix.hv, pos), valueBefore(mem, pos)
		if after {
			hv, m = valueBefore(ix.hv, pos+1), valueBefore(mem, pos+1)
		}
		return hvAllows(hv, m, lastJoin > pos)
	}
	var prev int64
	for i, p := range points {
		if i > 0 && p == points[i-1] {
			continue
		}
		if p > prev+1 && visibleAt(prev+1, false) {
			addRange(prev, p-1) // the events strictly between change points
		}
		if own[p] || visibleAt(p, false) || visibleAt(p, true) {
			addRange(p-1, p)
		}
		prev = p
	}
	if upTo > prev && visibleAt(prev+1, false) {
		addRange(prev, upTo)
	}
	return out
}

// hvAllows applies the spec's rules to one event: hv is the
// history_visibility in force ("" means shared), m the user's membership
// at the event, joinedLater whether the user joined after it.
func hvAllows(hv, m string, joinedLater bool) bool {
	switch {
	case hv == "world_readable":
		return true
	case m == spec.Join:
		return true
	case (hv == "shared" || hv == "") && joinedLater:
		return true
	case hv == "invited" && m == spec.Invite:
		return true
	}
	return false
}

// sees reports whether pos lies in one of the spans.
func sees(spans []span, pos int64) bool {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi >= pos })
	return i < len(spans) && spans[i].lo < pos
}

// clip returns the parts of spans inside (lo, hi].
func clip(spans []span, lo, hi int64) []span {
	var out []span
	for _, sp := range spans {
		a, b := max(sp.lo, lo), min(sp.hi, hi)
		if a < b {
			out = append(out, span{a, b})
		}
	}
	return out
}

// scan calls fn with v's visible events in (lo, hi], oldest first or
// newest first when backwards, reading batch rows at a time, until fn
// returns false. It reports whether the events ran out (rather than fn
// stopping the scan).
func (s *Service) scan(ctx context.Context, v view, lo, hi int64, backwards bool, batch int,
	fn func(e *Event) (bool, error)) (exhausted bool, err error) {
	return s.scanWhere(ctx, v, lo, hi, backwards, batch, nil, fn)
}

// scanWhere is scan calling fn only for the events whose stored PDU keep
// accepts (every event when keep is nil): a cheap test on the raw JSON
// spares decoding the events a search, say, would reject.
func (s *Service) scanWhere(ctx context.Context, v view, lo, hi int64, backwards bool, batch int,
	keep func(pdu []byte) bool, fn func(e *Event) (bool, error)) (exhausted bool, err error) {
	parts := clip(v.spans, lo, hi)
	if backwards {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	for _, sp := range parts {
		a, b := sp.lo, sp.hi
		for a < b {
			rows, err := s.db.RoomEvents(ctx, v.r.nid, a, b, batch, backwards)
			if err != nil {
				return false, err
			}
			for _, se := range rows {
				if backwards {
					b = se.Pos - 1
				} else {
					a = se.Pos
				}
				if keep != nil && !keep(se.PDU) {
					continue
				}
				e, err := eventFromStorage(v.r.ver, se)
				if err != nil {
					return false, err
				}
				more, err := fn(e)
				if err != nil || !more {
					return false, err
				}
			}
			if len(rows) < batch {
				break
			}
		}
	}
	return true, nil
}
