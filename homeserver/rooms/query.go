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

// view is what a user may see of a room: everything up to upTo, and the
// state as of then (current state for members).
type view struct {
	r        *room
	from     int64 // lowest visible stream position (history visibility)
	upTo     int64 // highest visible stream position
	leaveNID int64 // the user's leave/ban event when upTo is bounded
}

// canRead returns an error unless userID may read roomID.
func (s *Service) canRead(ctx context.Context, userID, roomID string) error {
	_, err := s.viewOf(ctx, userID, roomID)
	return err
}

// viewOf decides what userID may see of roomID: members see everything,
// former members up to their leave, anyone a world_readable room.
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
	from, worldReadable := visibleFrom(r, m)
	if worldReadable {
		return view{r: r, upTo: math.MaxInt64}, nil
	}
	switch m.membership {
	case spec.Join:
		return view{r: r, from: from, upTo: math.MaxInt64}, nil
	case spec.Leave, spec.Ban:
		return view{r: r, from: from, upTo: m.pos, leaveNID: m.eventNID}, nil
	}
	return view{}, forbidden
}

// visibleFrom is the lowest stream position m's user may see in r under
// the room's current history_visibility (standing for the whole
// history: a simplification of the spec's rule per event).
func visibleFrom(r *room, m membership) (from int64, worldReadable bool) {
	hv := "shared"
	if e := r.stateEvent(spec.MRoomHistoryVisibility, ""); e != nil {
		hv = historyVisibility(e)
	}
	switch hv {
	case "world_readable":
		return 0, true
	case "joined":
		return m.joinedAt, false
	case "invited":
		return m.invitedAt, false
	}
	return 0, false
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
	if se.RoomNID != v.r.nid || se.Pos > v.upTo || se.Pos < v.from || se.Pos > s.committedPos() {
		return nil, notFound
	}
	return eventFromStorage(v.r.ver, se)
}

func (s *Service) committedPos() int64 {
	p, _ := s.notify.current()
	return p
}

// Token formats: "s<pos>" for a stream position; sync tokens add
// "_<typing generation>".
func formatToken(pos int64) string { return "s" + strconv.FormatInt(pos, 10) }

func parseToken(tok string) (pos, typing int64, err error) {
	bad := homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid pagination token %q", tok)
	rest, ok := strings.CutPrefix(tok, "s")
	if !ok {
		return 0, 0, bad
	}
	p, t, hasT := strings.Cut(rest, "_")
	pos, err = strconv.ParseInt(p, 10, 64)
	if err != nil || pos < 0 {
		return 0, 0, bad
	}
	if hasT {
		typing, err = strconv.ParseInt(t, 10, 64)
		if err != nil || typing < 0 {
			return 0, 0, bad
		}
	}
	return pos, typing, nil
}
