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
	lo, hi := max(v.from-1, 0), min(from, now) // window (lo, hi]
	if !backwards {
		lo, hi = max(from, v.from-1), now
	}
	if to >= 0 {
		if backwards {
			lo = max(lo, to)
		} else {
			hi = min(hi, to)
		}
	}
	senders := map[string]bool{}
	exhausted := false
page:
	for {
		if lo >= hi {
			exhausted = true
			break
		}
		fetch := limit - len(resp.Chunk) + 1
		if req.Filter.restricts() {
			fetch = max(fetch, 100)
		}
		batch, err := s.db.RoomEvents(ctx, v.r.nid, lo, hi, fetch, backwards)
		if err != nil {
			return nil, err
		}
		for _, se := range batch {
			if len(resp.Chunk) == limit {
				break page
			}
			if backwards {
				hi = se.Pos - 1
			} else {
				lo = se.Pos
			}
			e, err := eventFromStorage(v.r.ver, se)
			if err != nil {
				return nil, err
			}
			if !req.Filter.allowsEvent(e) {
				continue
			}
			senders[e.Sender] = true
			resp.Chunk = append(resp.Chunk, e.JSON(dev.UserID, dev.DeviceID))
		}
		if len(batch) < fetch {
			exhausted = true
			break
		}
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
		evs, err := s.db.RoomEvents(ctx, v.r.nid, lo, hi, n, backwards)
		if err != nil {
			return 0, err
		}
		for _, se := range evs {
			ev, err := eventFromStorage(v.r.ver, se)
			if err != nil {
				return 0, err
			}
			if backwards {
				edge = se.Pos - 1
			} else {
				edge = se.Pos
			}
			if filter.allowsEvent(ev) {
				*out = append(*out, ev.JSON(dev.UserID, dev.DeviceID))
			}
		}
		return edge, nil
	}
	start, err := collect(max(v.from-1, 0), e.Pos-1, nBefore, true, &resp.EventsBefore)
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
