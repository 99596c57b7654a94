package rooms

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/tidwall/gjson"

	gmsl "github.com/matrix-org/gomatrixserverlib"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// room is a loaded room. Builders serialise on mu (only the build step:
// prev_events, depth, auth); readers use view, which holds only what is
// committed.
type room struct {
	nid    int64
	id     string
	ver    gmsl.IRoomVersion
	broken atomic.Bool // a write failed; reload before use

	mu       sync.Mutex
	state    stateMap // includes events still being committed
	latest   []string
	depth    int64
	snapshot int64
	chainLen int
	idRing   [recentIDs]string // recently applied event IDs
	idSet    map[string]struct{}
	idAt     int

	view sync.RWMutex
	cur  stateMap // committed current state
	// recent holds the newest committed events, oldest first; floor is
	// the position below which events may be missing from recent.
	recent    []*Event
	floor     int64
	lastPos   int64
	published bool
	receipts  map[receiptKey]storage.Receipt
	rcptPos   int64 // newest receipt position
}

// room returns the loaded room, loading it from the database on first use.
// It returns errNoRoom for an unknown (or malformed) room ID.
func (s *Service) room(ctx context.Context, roomID string) (*room, error) {
	s.roomsMu.RLock()
	r := s.rooms[roomID]
	s.roomsMu.RUnlock()
	if r != nil && !r.broken.Load() {
		return r, nil
	}
	if parseRoomID(roomID) != nil {
		return nil, errNoRoom
	}
	sr, err := s.db.RoomByID(ctx, roomID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNoRoom
	}
	if err != nil {
		return nil, err
	}
	r, err = s.loadRoom(ctx, sr)
	if err != nil {
		return nil, err
	}
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	if cur := s.rooms[roomID]; cur != nil && !cur.broken.Load() {
		return cur, nil
	}
	s.rooms[roomID] = r
	return r, nil
}

func (s *Service) loadRoom(ctx context.Context, sr storage.Room) (*room, error) {
	ver, err := gmsl.GetRoomVersion(gmsl.RoomVersion(sr.Version))
	if err != nil {
		return nil, fmt.Errorf("load room %s: %w", sr.RoomID, err)
	}
	r := &room{nid: sr.NID, id: sr.RoomID, ver: ver, latest: sr.LatestEvents, depth: sr.Depth,
		snapshot: sr.Snapshot, chainLen: sr.ChainLen, lastPos: sr.LastPos, published: sr.Published}
	st, err := s.loadState(ctx, ver, sr.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("load room %s: %w", sr.RoomID, err)
	}
	r.state = st
	r.cur = make(stateMap, len(st))
	for k, v := range st {
		r.cur[k] = v
	}
	recent, err := s.db.RoomEvents(ctx, r.nid, 0, math.MaxInt64, s.cfg.RecentEvents, true)
	if err != nil {
		return nil, fmt.Errorf("load room %s: %w", sr.RoomID, err)
	}
	for i := len(recent) - 1; i >= 0; i-- {
		e, err := eventFromStorage(ver, recent[i])
		if err != nil {
			return nil, err
		}
		r.recent = append(r.recent, e)
	}
	if len(recent) == s.cfg.RecentEvents {
		r.floor = r.recent[0].Pos - 1
	}
	rcs, err := s.db.Receipts(ctx, r.nid)
	if err != nil {
		return nil, fmt.Errorf("load room %s: %w", sr.RoomID, err)
	}
	for _, rc := range rcs {
		r.setReceipt(rc)
	}
	return r, nil
}

// loadState resolves a snapshot (walking deltas back to a checkpoint)
// into a state map.
func (s *Service) loadState(ctx context.Context, ver gmsl.IRoomVersion, snap int64) (stateMap, error) {
	if snap == 0 {
		return stateMap{}, nil
	}
	entries, err := s.db.ResolveSnapshot(ctx, snap)
	if err != nil {
		return nil, err
	}
	nids := make([]int64, 0, len(entries))
	for _, e := range entries {
		nids = append(nids, e.EventNID)
	}
	evs, err := s.db.EventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	st := make(stateMap, len(evs))
	for _, se := range evs {
		e, err := eventFromStorage(ver, se)
		if err != nil {
			return nil, err
		}
		if e.StateKey != nil {
			st[tuple{e.Type, *e.StateKey}] = e
		}
	}
	return st, nil
}

// StateAt returns the room state before an event (for federation and
// history): the snapshot recorded with the event.
func (s *Service) StateAt(ctx context.Context, eventID string) ([]*Event, error) {
	se, err := s.db.EventByID(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "Event not found")
	}
	if err != nil {
		return nil, err
	}
	r, err := s.room(ctx, roomIDOfPDU(se.PDU, se.EventID))
	if err != nil {
		return nil, fmt.Errorf("state at %s: %w", eventID, err)
	}
	st, err := s.loadState(ctx, r.ver, se.StateBefore)
	if err != nil {
		return nil, err
	}
	out := make([]*Event, 0, len(st))
	for _, ev := range st {
		out = append(out, ev)
	}
	return out, nil
}

// roomIDOfPDU reads the room of a stored PDU; a v12 create event has no
// room_id and its room ID is derived from its event ID.
func roomIDOfPDU(pdu []byte, eventID string) string {
	if id := gjson.GetBytes(pdu, "room_id").Str; id != "" {
		return id
	}
	return "!" + eventID[1:]
}

// publish applies committed events to the reader view (committer goroutine).
func (r *room) publish(evs []*Event, keep int) {
	r.view.Lock()
	defer r.view.Unlock()
	for _, e := range evs {
		if e.StateKey != nil {
			r.cur[tuple{e.Type, *e.StateKey}] = e
		}
		r.recent = append(r.recent, e)
		r.lastPos = e.Pos
	}
	// Trim only past twice the limit: readers may still hold the old
	// slice, so trimming copies, and copying on every message was the
	// send path's largest allocation.
	if len(r.recent) > 2*keep {
		over := len(r.recent) - keep
		r.floor = r.recent[over-1].Pos
		r.recent = append(make([]*Event, 0, 2*keep+1), r.recent[over:]...)
	}
}

// stateEvent returns one committed state event, or nil.
func (r *room) stateEvent(typ, key string) *Event {
	r.view.RLock()
	defer r.view.RUnlock()
	return r.cur[tuple{typ, key}]
}

// currentState returns the committed state events.
func (r *room) currentState() []*Event {
	r.view.RLock()
	defer r.view.RUnlock()
	out := make([]*Event, 0, len(r.cur))
	for _, e := range r.cur {
		out = append(out, e)
	}
	return out
}
