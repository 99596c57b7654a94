package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"scop/homeserver"
)

// RelationsRequest is GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
type RelationsRequest struct {
	RelType   string // "" for any relation type
	EventType string // "" for any event type; only with RelType
	From, To  string
	Dir       string // "b" (default) or "f"
	Limit     int
}

// RelationsResponse is the body of the relations endpoints.
type RelationsResponse struct {
	Chunk     []json.RawMessage `json:"chunk"`
	NextBatch string            `json:"next_batch,omitempty"`
	PrevBatch string            `json:"prev_batch,omitempty"`
}

// relationScanBatch is how many timeline events one storage read scans
// while looking for children: there is no relation index, so the room's
// visible timeline is walked in order.
const relationScanBatch = 200

// Relations returns the events relating to eventID through m.relates_to,
// paginated by stream position like /messages. The caller must be able to
// see the parent event.
func (s *Service) Relations(ctx context.Context, dev homeserver.Device, roomID, eventID string, req RelationsRequest) (*RelationsResponse, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	if _, err := s.visibleEvent(ctx, v, eventID); err != nil {
		return nil, err
	}
	switch req.Dir {
	case "":
		req.Dir = "b"
	case "b", "f":
	default:
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "dir must be b or f")
	}
	backwards := req.Dir == "b"
	if req.Limit < 0 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "limit must not be negative")
	}
	limit := req.Limit
	if limit == 0 {
		limit = 5
	}
	limit = min(limit, 100)
	now := min(s.committedPos(), v.upTo)
	lo, hi := int64(0), now // window (lo, hi]
	if req.From != "" {
		from, _, err := parseToken(req.From)
		if err != nil {
			return nil, err
		}
		if backwards {
			hi = min(hi, from)
		} else {
			lo = max(lo, from)
		}
	}
	if req.To != "" {
		to, _, err := parseToken(req.To)
		if err != nil {
			return nil, err
		}
		if backwards {
			lo = max(lo, to)
		} else {
			hi = min(hi, to)
		}
	}
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	resp := &RelationsResponse{Chunk: []json.RawMessage{}}
	_, err = s.scan(ctx, v, lo, hi, backwards, relationScanBatch, func(e *Event) (bool, error) {
		if len(resp.Chunk) == limit {
			// More may follow: continue from the last event taken.
			if backwards {
				resp.NextBatch = formatToken(hi)
			} else {
				resp.NextBatch = formatToken(lo)
			}
			return false, nil
		}
		if backwards {
			hi = e.Pos - 1
		} else {
			lo = e.Pos
		}
		if !ignored[e.Sender] && relatesTo(e, eventID, req.RelType, req.EventType) {
			resp.Chunk = append(resp.Chunk, e.JSON(dev.UserID, dev.DeviceID))
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// relatesTo reports whether e is a child of parent with the given relation
// and event type ("" matches any).
func relatesTo(e *Event, parent, relType, evType string) bool {
	if evType != "" && e.Type != evType {
		return false
	}
	var c struct {
		Rel *struct {
			EventID string `json:"event_id"`
			RelType string `json:"rel_type"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(e.PDU.Content(), &c) != nil || c.Rel == nil {
		return false
	}
	return c.Rel.EventID == parent && c.Rel.RelType != "" && (relType == "" || c.Rel.RelType == relType)
}

// ThreadsRequest is GET /rooms/{roomId}/threads.
type ThreadsRequest struct {
	Include string // "all" (default) or "participated"
	From    string // offset token from a previous next_batch
	Limit   int
}

// ThreadsResponse is the body of GET /rooms/{roomId}/threads.
type ThreadsResponse struct {
	Chunk     []json.RawMessage `json:"chunk"`
	NextBatch string            `json:"next_batch,omitempty"`
}

// Threads lists the visible thread roots of a room (events with m.thread
// children), most recently active first. Without a relation index the
// visible timeline is scanned on each call; next_batch is an offset
// ("t<n>") into that ordering.
func (s *Service) Threads(ctx context.Context, dev homeserver.Device, roomID string, req ThreadsRequest) (*ThreadsResponse, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	switch req.Include {
	case "":
		req.Include = "all"
	case "all", "participated":
	default:
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "include must be all or participated")
	}
	offset := 0
	if req.From != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.From, "t"))
		if err != nil || n < 0 || !strings.HasPrefix(req.From, "t") {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid pagination token %q", req.From)
		}
		offset = n
	}
	if req.Limit < 0 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "limit must not be negative")
	}
	limit := req.Limit
	if limit == 0 {
		limit = 10
	}
	limit = min(limit, 100)
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	// Newest first: a root's place is that of its latest visible reply.
	var roots []string
	seen := map[string]bool{}
	participated := map[string]bool{}
	_, err = s.scan(ctx, v, 0, min(s.committedPos(), v.upTo), true, relationScanBatch, func(e *Event) (bool, error) {
		root, ok := threadRoot(e)
		if !ok || ignored[e.Sender] {
			return true, nil
		}
		if e.Sender == dev.UserID {
			participated[root] = true
		}
		if !seen[root] {
			seen[root] = true
			roots = append(roots, root)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	resp := &ThreadsResponse{Chunk: []json.RawMessage{}}
	n := 0
	for _, id := range roots {
		e, err := s.visibleEvent(ctx, v, id)
		if err != nil {
			var he *homeserver.Error
			if errors.As(err, &he) {
				continue // root not visible (or not an event of this room)
			}
			return nil, err
		}
		if ignored[e.Sender] || (req.Include == "participated" && !participated[id] && e.Sender != dev.UserID) {
			continue
		}
		if n++; n <= offset {
			continue
		}
		if len(resp.Chunk) == limit {
			resp.NextBatch = "t" + strconv.Itoa(n-1)
			break
		}
		resp.Chunk = append(resp.Chunk, e.JSON(dev.UserID, dev.DeviceID))
	}
	return resp, nil
}

// threadRoot returns the root event ID of an m.thread reply.
func threadRoot(e *Event) (string, bool) {
	var c struct {
		Rel *struct {
			EventID string `json:"event_id"`
			RelType string `json:"rel_type"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(e.PDU.Content(), &c) != nil || c.Rel == nil || c.Rel.RelType != "m.thread" || c.Rel.EventID == "" {
		return "", false
	}
	return c.Rel.EventID, true
}
