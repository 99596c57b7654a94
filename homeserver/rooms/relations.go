package rooms

import (
	"context"
	"encoding/json"

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
	lo, hi := max(v.from-1, 0), now // window (lo, hi]
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
	for lo < hi {
		batch, err := s.db.RoomEvents(ctx, v.r.nid, lo, hi, relationScanBatch, backwards)
		if err != nil {
			return nil, err
		}
		for _, se := range batch {
			if len(resp.Chunk) == limit {
				// More may follow: continue from the last event taken.
				if backwards {
					resp.NextBatch = formatToken(hi)
				} else {
					resp.NextBatch = formatToken(lo)
				}
				return resp, nil
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
			if ignored[e.Sender] || !relatesTo(e, eventID, req.RelType, req.EventType) {
				continue
			}
			resp.Chunk = append(resp.Chunk, e.JSON(dev.UserID, dev.DeviceID))
		}
		if len(batch) < relationScanBatch {
			break
		}
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
