package rooms

import (
	"context"

	"scop/homeserver"
)

// TimestampEvent is the body of GET /rooms/{roomId}/timestamp_to_event.
type TimestampEvent struct {
	EventID        string `json:"event_id"`
	OriginServerTS int64  `json:"origin_server_ts"`
}

// TimestampToEvent finds the visible event closest to ts (Unix ms): for
// dir "b" the newest one sent at or before ts, for "f" the oldest one sent
// at or after it. Timestamps are not ordered with the stream, so the
// visible timeline is scanned in full.
func (s *Service) TimestampToEvent(ctx context.Context, dev homeserver.Device, roomID string, ts int64, dir string) (*TimestampEvent, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	if dir != "b" && dir != "f" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "dir must be b or f")
	}
	var best *TimestampEvent
	lo, hi := max(v.from-1, 0), min(s.committedPos(), v.upTo)
	for lo < hi {
		batch, err := s.db.RoomEvents(ctx, v.r.nid, lo, hi, relationScanBatch, false)
		if err != nil {
			return nil, err
		}
		for _, se := range batch {
			lo = se.Pos
			e, err := eventFromStorage(v.r.ver, se)
			if err != nil {
				return nil, err
			}
			ets := int64(e.PDU.OriginServerTS())
			// Oldest first: on equal timestamps "b" keeps the later
			// event and "f" the earlier one.
			switch {
			case dir == "b" && ets <= ts && (best == nil || ets >= best.OriginServerTS):
				best = &TimestampEvent{e.ID, ets}
			case dir == "f" && ets >= ts && (best == nil || ets < best.OriginServerTS):
				best = &TimestampEvent{e.ID, ets}
			}
		}
		if len(batch) < relationScanBatch {
			break
		}
	}
	if best == nil {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "No event found %s of %d", map[string]string{"b": "before", "f": "after"}[dir], ts)
	}
	return best, nil
}
