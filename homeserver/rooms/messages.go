package rooms

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// MessagesRequest is GET /rooms/{roomId}/messages.
type MessagesRequest struct {
	From, To string
	Dir      string // "b" or "f"
	Limit    int
	Filter   *RoomEventFilter
}

// MessagesResponse is the body of GET /rooms/{roomId}/messages.
type MessagesResponse struct {
	Chunk []json.RawMessage `json:"chunk"`
	Start string            `json:"start"`
	End   string            `json:"end,omitempty"`
	State []json.RawMessage `json:"state,omitempty"`
}

// Messages paginates a room's timeline. A token is a stream position:
// backwards from t yields events at or below t, forwards those above t.
func (s *Service) Messages(ctx context.Context, dev homeserver.Device, roomID string, req MessagesRequest) (*MessagesResponse, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	if req.Dir != "b" && req.Dir != "f" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "dir must be b or f")
	}
	backwards := req.Dir == "b"
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	req.Filter = req.Filter.withIgnored(ignored)
	now := min(s.committedPos(), v.upTo)
	var from int64
	switch {
	case req.From != "":
		if from, _, err = parseToken(req.From); err != nil {
			return nil, err
		}
	case backwards:
		from = now
	}
	var to int64 = -1
	if req.To != "" {
		if to, _, err = parseToken(req.To); err != nil {
			return nil, err
		}
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 1000)
	resp := &MessagesResponse{Chunk: []json.RawMessage{}, Start: formatToken(from)}
	lo, hi := int64(0), min(from, now) // window (lo, hi]
	if !backwards {
		lo, hi = from, now
	}
	if to >= 0 {
		if backwards {
			lo = max(lo, to)
		} else {
			hi = min(hi, to)
		}
	}
	senders := map[string]bool{}
	fetch := limit + 1
	if req.Filter.restricts() {
		fetch = max(fetch, 100)
	}
	exhausted, err := s.scan(ctx, v, lo, hi, backwards, fetch, func(e *Event) (bool, error) {
		if len(resp.Chunk) == limit {
			return false, nil
		}
		if backwards {
			hi = e.Pos - 1
		} else {
			lo = e.Pos
		}
		if req.Filter.allowsEvent(e) {
			senders[e.Sender] = true
			resp.Chunk = append(resp.Chunk, e.JSON(dev.UserID, dev.DeviceID))
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case backwards && !exhausted:
		resp.End = formatToken(hi)
	case !backwards:
		// Forwards, the client continues from the last event, even at
		// the live edge.
		resp.End = formatToken(lo)
	}
	if req.Filter != nil && req.Filter.LazyLoadMembers {
		for _, e := range v.r.currentState() {
			if e.Type == spec.MRoomMember && senders[*e.StateKey] {
				resp.State = append(resp.State, e.JSON(dev.UserID, dev.DeviceID))
			}
		}
	}
	return resp, nil
}

// ContextResponse is the body of GET /rooms/{roomId}/context/{eventId}.
type ContextResponse struct {
	Event        json.RawMessage   `json:"event"`
	EventsBefore []json.RawMessage `json:"events_before"`
	EventsAfter  []json.RawMessage `json:"events_after"`
	Start        string            `json:"start"`
	End          string            `json:"end"`
	State        []json.RawMessage `json:"state"`
}

// Context returns an event with the events around it and the room state
// at it.
func (s *Service) Context(ctx context.Context, dev homeserver.Device, roomID, eventID string, limit int, filter *RoomEventFilter) (*ContextResponse, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	e, err := s.visibleEvent(ctx, v, eventID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 100)
	nBefore := limit / 2
	nAfter := limit - nBefore
	if limit == 1 {
		nBefore, nAfter = 0, 0
	}
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	filter = filter.withIgnored(ignored)
	resp := &ContextResponse{Event: e.JSON(dev.UserID, dev.DeviceID), EventsBefore: []json.RawMessage{}, EventsAfter: []json.RawMessage{}, State: []json.RawMessage{}}
	now := min(s.committedPos(), v.upTo)
	collect := func(lo, hi int64, n int, backwards bool, out *[]json.RawMessage) (int64, error) {
		edge := lo
		if backwards {
			edge = hi
		}
		if n == 0 {
			return edge, nil
		}
		seen := 0
		_, err := s.scan(ctx, v, lo, hi, backwards, n, func(ev *Event) (bool, error) {
			if seen == n {
				return false, nil
			}
			seen++
			if backwards {
				edge = ev.Pos - 1
			} else {
				edge = ev.Pos
			}
			if filter.allowsEvent(ev) {
				*out = append(*out, ev.JSON(dev.UserID, dev.DeviceID))
			}
			return true, nil
		})
		return edge, err
	}
	start, err := collect(0, e.Pos-1, nBefore, true, &resp.EventsBefore)
	if err != nil {
		return nil, err
	}
	end, err := collect(e.Pos, now, nAfter, false, &resp.EventsAfter)
	if err != nil {
		return nil, err
	}
	resp.Start, resp.End = formatToken(start), formatToken(end)
	st, err := s.loadState(ctx, v.r.ver, e.StateBefore)
	if err != nil {
		return nil, err
	}
	for _, se := range st {
		resp.State = append(resp.State, se.JSON(dev.UserID, dev.DeviceID))
	}
	return resp, nil
}
