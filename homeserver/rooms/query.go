package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// view is what a user may see of a room: the visible spans of its
// timeline up to upTo, and the state as of then (current state for
// members).
type view struct {
	r        *room
	spans    []span // visible parts of the timeline, ascending, all <= upTo
	from     int64  // lowest position that may be visible (spans[0].lo+1)
	upTo     int64  // highest stream position the view reaches
	leaveNID int64  // the user's leave/ban event when upTo is bounded
}

// sees reports whether the event at pos is visible in v.
func (v view) sees(pos int64) bool { return sees(v.spans, pos) }

// canRead returns an error unless userID may read roomID.
func (s *Service) canRead(ctx context.Context, userID, roomID string) error {
	_, err := s.viewOf(ctx, userID, roomID)
	return err
}

// viewOf decides what userID may see of roomID. Members reach the live
// end, former members their leave, anyone the live end of a room that is
// world_readable now; within that reach each event is judged by the
// history visibility and the user's membership at it (visibility.go).
func (s *Service) viewOf(ctx context.Context, userID, roomID string) (view, error) {
	if err := parseRoomID(roomID); err != nil {
		return view{}, err
	}
	forbidden := homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	r, err := s.room(ctx, roomID)
	if errors.Is(err, errNoRoom) {
		return view{}, forbidden
	}
	if err != nil {
		return view{}, err
	}
	m := s.membershipOf(userID, roomID)
	v := view{r: r, upTo: math.MaxInt64}
	worldReadable := false
	if e := r.stateEvent(spec.MRoomHistoryVisibility, ""); e != nil {
		worldReadable = historyVisibility(e) == "world_readable"
	}
	switch {
	case m.membership == spec.Join || worldReadable:
	case m.membership == spec.Leave || m.membership == spec.Ban:
		v.upTo, v.leaveNID = m.pos, m.eventNID
	default:
		return view{}, forbidden
	}
	ix, err := s.visIndexOf(ctx, r)
	if err != nil {
		return view{}, err
	}
	ix.mu.RLock()
	indexed := ix.upTo
	ix.mu.RUnlock()
	v.spans = ix.spans(userID, min(v.upTo, indexed))
	v.from = v.timelineFloor() + 1
	return v, nil
}

// timelineFloor is the position below which v shows nothing.
func (v view) timelineFloor() int64 {
	if len(v.spans) == 0 {
		return v.upTo
	}
	return v.spans[0].lo
}

func historyVisibility(e *Event) string {
	var c struct {
		HistoryVisibility string `json:"history_visibility"`
	}
	_ = json.Unmarshal(e.PDU.Content(), &c)
	return c.HistoryVisibility
}

// stateAtPos returns the room state after the last event at or below pos,
// or the view's state when pos is beyond what the view shows.
func (s *Service) stateAtPos(ctx context.Context, v view, pos int64) ([]*Event, error) {
	if pos >= min(s.committedPos(), v.upTo) {
		return s.state(ctx, v)
	}
	rows, err := s.db.RoomEvents(ctx, v.r.nid, 0, pos, 1, true)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return []*Event{}, nil
	}
	last, err := eventFromStorage(v.r.ver, rows[0])
	if err != nil {
		return nil, err
	}
	st, err := s.loadState(ctx, v.r.ver, last.StateBefore)
	if err != nil {
		return nil, err
	}
	if last.IsState() {
		st[tuple{last.Type, *last.StateKey}] = last
	}
	out := make([]*Event, 0, len(st))
	for _, e := range st {
		out = append(out, e)
	}
	return out, nil
}

// state returns the state the view shows.
func (s *Service) state(ctx context.Context, v view) ([]*Event, error) {
	if v.leaveNID == 0 {
		return v.r.currentState(), nil
	}
	evs, err := s.db.EventsByNID(ctx, []int64{v.leaveNID})
	if err != nil || len(evs) == 0 {
		return nil, fmt.Errorf("leave event %d: %w", v.leaveNID, errors.Join(err, storage.ErrNotFound))
	}
	st, err := s.loadState(ctx, v.r.ver, evs[0].StateBefore)
	if err != nil {
		return nil, err
	}
	leave, err := eventFromStorage(v.r.ver, evs[0])
	if err != nil {
		return nil, err
	}
	st[tuple{leave.Type, *leave.StateKey}] = leave
	out := make([]*Event, 0, len(st))
	for _, e := range st {
		out = append(out, e)
	}
	return out, nil
}

// StateEvent returns the content of one state event (GET /rooms/{roomId}/state/{type}/{stateKey}).
func (s *Service) StateEvent(ctx context.Context, dev homeserver.Device, roomID, typ, key string) (json.RawMessage, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	st, err := s.state(ctx, v)
	if err != nil {
		return nil, err
	}
	for _, e := range st {
		if e.Type == typ && *e.StateKey == key {
			return e.PDU.Content(), nil
		}
	}
	return nil, homeserver.Errorf(homeserver.ErrNotFound, "Event not found")
}

// State returns the room state (GET /rooms/{roomId}/state).
func (s *Service) State(ctx context.Context, dev homeserver.Device, roomID string) ([]json.RawMessage, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	st, err := s.state(ctx, v)
	if err != nil {
		return nil, err
	}
	sortEvents(st)
	out := make([]json.RawMessage, 0, len(st))
	for _, e := range st {
		out = append(out, e.JSON(dev.UserID, dev.DeviceID))
	}
	return out, nil
}

func sortEvents(evs []*Event) {
	sort.Slice(evs, func(i, j int) bool {
		return evs[i].Pos < evs[j].Pos || (evs[i].Pos == evs[j].Pos && evs[i].NID < evs[j].NID)
	})
}

// Members returns the room's member events, optionally filtered by
// membership (GET /rooms/{roomId}/members).
// With at (a sync or pagination token) the members are those of the room
// state at that point of the stream, bounded by what the caller may see.
func (s *Service) Members(ctx context.Context, dev homeserver.Device, roomID, at, membership, notMembership string) ([]json.RawMessage, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	var st []*Event
	if at != "" {
		pos, _, err := parseToken(at)
		if err != nil {
			return nil, err
		}
		st, err = s.stateAtPos(ctx, v, pos)
		if err != nil {
			return nil, err
		}
	} else if st, err = s.state(ctx, v); err != nil {
		return nil, err
	}
	sortEvents(st)
	out := []json.RawMessage{}
	for _, e := range st {
		if e.Type != spec.MRoomMember {
			continue
		}
		m := e.Membership()
		if (membership != "" && m != membership) || (notMembership != "" && m == notMembership) {
			continue
		}
		out = append(out, e.JSON(dev.UserID, dev.DeviceID))
	}
	return out, nil
}

// JoinedMember is one entry of GET /rooms/{roomId}/joined_members.
type JoinedMember struct {
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
}

// JoinedMembers lists the joined members with their profiles.
func (s *Service) JoinedMembers(ctx context.Context, dev homeserver.Device, roomID string) (map[string]JoinedMember, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	if v.leaveNID != 0 {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	out := map[string]JoinedMember{}
	for _, e := range v.r.currentState() {
		if e.Type != spec.MRoomMember || e.Membership() != spec.Join {
			continue
		}
		var c struct {
			DisplayName *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		_ = json.Unmarshal(e.PDU.Content(), &c)
		out[*e.StateKey] = JoinedMember{DisplayName: c.DisplayName, AvatarURL: c.AvatarURL}
	}
	return out, nil
}

// JoinedRooms lists the rooms the user is joined to.
func (s *Service) JoinedRooms(ctx context.Context, dev homeserver.Device) []string {
	out := []string{}
	for _, m := range s.userMemberships(dev.UserID) {
		if m.membership == spec.Join {
			out = append(out, m.roomID)
		}
	}
	sort.Strings(out)
	return out
}

// Event returns one visible event (GET /rooms/{roomId}/event/{eventId}).
func (s *Service) Event(ctx context.Context, dev homeserver.Device, roomID, eventID string) (json.RawMessage, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	e, err := s.visibleEvent(ctx, v, eventID)
	if err != nil {
		return nil, err
	}
	return e.JSON(dev.UserID, dev.DeviceID), nil
}

func (s *Service) visibleEvent(ctx context.Context, v view, eventID string) (*Event, error) {
	if !strings.HasPrefix(eventID, "$") || len(eventID) > 255 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid event ID %q", eventID)
	}
	notFound := homeserver.Errorf(homeserver.ErrNotFound, "Event not found")
	se, err := s.db.EventByID(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if se.RoomNID != v.r.nid || !v.sees(se.Pos) || se.Pos > s.committedPos() {
		return nil, notFound
	}
	return eventFromStorage(v.r.ver, se)
}

func (s *Service) committedPos() int64 {
	p, _ := s.notify.current()
	return p
}

// Token formats: "s<pos>" for a stream position; sync tokens add
// "_<typing generation>" and, with presence, "_<presence generation>".
func formatToken(pos int64) string { return "s" + strconv.FormatInt(pos, 10) }

// parseToken reads a stream position (any sync token is also accepted).
func parseToken(tok string) (pos, typing int64, err error) {
	pos, typing, _, err = parseSyncToken(tok)
	return pos, typing, err
}

func parseSyncToken(tok string) (pos, typing, presence int64, err error) {
	bad := homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid pagination token %q", tok)
	rest, ok := strings.CutPrefix(tok, "s")
	if !ok {
		return 0, 0, 0, bad
	}
	parts := strings.Split(rest, "_")
	if len(parts) > 3 {
		return 0, 0, 0, bad
	}
	var n [3]int64
	for i, p := range parts {
		if n[i], err = strconv.ParseInt(p, 10, 64); err != nil || n[i] < 0 {
			return 0, 0, 0, bad
		}
	}
	return n[0], n[1], n[2], nil
}
