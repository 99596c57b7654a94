package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// StreamEvent is one committed event in global stream order, for
// consumers that follow every room (application service transactions).
type StreamEvent struct {
	Pos      int64
	RoomID   string
	Type     string
	StateKey *string // nil for a message event
	Sender   string
	// Membership is the membership of an m.room.member event, else "".
	Membership string
	// JSON is the client-format event (with room_id and unsigned).
	JSON json.RawMessage
}

// RoomMember is one member of a room's current state.
type RoomMember struct {
	UserID     string
	Membership string
	Pos        int64 // stream position of the membership event
}

// StreamPosition returns the committed stream position and a channel
// closed at the next change of the stream (or an ephemeral poke): a
// follower reads after its position, then waits on the channel.
func (s *Service) StreamPosition() (int64, <-chan struct{}) {
	return s.notify.current()
}

// StreamEvents returns up to limit committed events with from < pos, in
// stream order across every room that has a local membership or is
// loaded, and the position the caller has reached: the last returned
// event's when limit was hit, else the committed position read at the
// start (positions of account data and receipts carry no event, so the
// reached position may be past the last event).
func (s *Service) StreamEvents(ctx context.Context, from int64, limit int) ([]StreamEvent, int64, error) {
	upTo, _ := s.notify.current()
	if from >= upTo || limit <= 0 {
		return nil, max(from, upTo), nil
	}
	var out []StreamEvent
	for _, id := range s.streamRoomIDs() {
		r, err := s.room(ctx, id)
		if errors.Is(err, errNoRoom) {
			continue
		}
		if err != nil {
			return nil, from, fmt.Errorf("stream: %w", err)
		}
		evs, err := s.roomEventsAfter(ctx, r, from, upTo, limit)
		if err != nil {
			return nil, from, fmt.Errorf("stream: room %s: %w", id, err)
		}
		for _, e := range evs {
			out = append(out, StreamEvent{Pos: e.Pos, RoomID: r.id, Type: e.Type, StateKey: e.StateKey,
				Sender: e.Sender, Membership: e.Membership(), JSON: e.JSON("", "")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pos < out[j].Pos })
	// Each room contributed its first limit events after from, so the
	// first limit of the merge are exactly the stream's next limit.
	if len(out) >= limit {
		out = out[:limit]
		return out, out[limit-1].Pos, nil
	}
	return out, upTo, nil
}

// streamRoomIDs lists the rooms a stream follower must look at: every room
// with a local membership (joined, invited, left...) and every loaded room.
// Without federation no other room can receive events.
func (s *Service) streamRoomIDs() []string {
	seen := map[string]bool{}
	var ids []string
	s.memMu.RLock()
	for _, rs := range s.memberships {
		for id := range rs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	s.memMu.RUnlock()
	s.roomsMu.RLock()
	for id := range s.rooms {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	s.roomsMu.RUnlock()
	return ids
}

// roomEventsAfter returns up to limit of r's committed events with
// from < pos <= upTo, oldest first: from memory when the recent window
// covers from, else from the database.
func (s *Service) roomEventsAfter(ctx context.Context, r *room, from, upTo int64, limit int) ([]*Event, error) {
	r.view.RLock()
	last, floor, recent := r.lastPos, r.floor, r.recent
	r.view.RUnlock()
	if last <= from {
		return nil, nil
	}
	if floor <= from {
		var out []*Event
		for _, e := range recent {
			if e.Pos > from && e.Pos <= upTo {
				out = append(out, e)
				if len(out) == limit {
					break
				}
			}
		}
		return out, nil
	}
	stored, err := s.db.RoomEvents(ctx, r.nid, from, upTo, limit, false)
	if err != nil {
		return nil, err
	}
	out := make([]*Event, 0, len(stored))
	for _, se := range stored {
		e, err := eventFromStorage(r.ver, se)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// RoomMembers lists the members of a room's current state, local and
// remote, with no access check (for services acting for the server).
func (s *Service) RoomMembers(ctx context.Context, roomID string) ([]RoomMember, error) {
	r, err := s.room(ctx, roomID)
	if errors.Is(err, errNoRoom) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("room members of %s: %w", roomID, err)
	}
	r.view.RLock()
	defer r.view.RUnlock()
	var out []RoomMember
	for k, e := range r.cur {
		if k.typ == spec.MRoomMember {
			out = append(out, RoomMember{UserID: k.key, Membership: e.Membership(), Pos: e.Pos})
		}
	}
	return out, nil
}

// LocalAliases lists a room's aliases with no access check (for services
// acting for the server).
func (s *Service) LocalAliases(ctx context.Context, roomID string) ([]string, error) {
	return s.aliases.RoomAliases(ctx, roomID)
}

// StreamReceipts returns, for each room a stream follower looks at, the
// m.receipt event (with room_id) of the public receipts whose position is
// in (from, upTo], for application services with receive_ephemeral.
// Only a user's newest receipt of each type is kept, so a receipt
// replaced after upTo comes in a later range instead.
func (s *Service) StreamReceipts(ctx context.Context, from, upTo int64) ([]StreamEvent, error) {
	var out []StreamEvent
	for _, id := range s.streamRoomIDs() {
		r, err := s.room(ctx, id)
		if errors.Is(err, errNoRoom) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream receipts: %w", err)
		}
		// An empty user ID sees no private receipts.
		ev := r.receiptEvent("", from, upTo)
		if ev == nil {
			continue
		}
		withRoom := append(ev[:len(ev)-1:len(ev)-1], `,"room_id":`...)
		rid, _ := json.Marshal(r.id)
		withRoom = append(append(withRoom, rid...), '}')
		out = append(out, StreamEvent{RoomID: r.id, Type: "m.receipt", JSON: withRoom})
	}
	return out, nil
}
