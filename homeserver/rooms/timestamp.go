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
// visible ranges of the timeline are scanned in full.
func (s *Service) TimestampToEvent(ctx context.Context, dev homeserver.Device, roomID string, ts int64, dir string) (*TimestampEvent, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return nil, err
	}
	if dir != "b" && dir != "f" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "dir must be b or f")
	}
	var best *TimestampEvent
	_, err = s.scan(ctx, v, 0, min(s.committedPos(), v.upTo), false, relationScanBatch, func(e *Event) (bool, error) {
		ets := int64(e.PDU.OriginServerTS())
		// Oldest first: on equal timestamps "b" keeps the later event
		// and "f" the earlier one.
		switch {
		case dir == "b" && ets <= ts && (best == nil || ets >= best.OriginServerTS):
			best = &TimestampEvent{e.ID, ets}
		case dir == "f" && ets >= ts && (best == nil || ets < best.OriginServerTS):
			best = &TimestampEvent{e.ID, ets}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if best == nil {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "No event found %s of %d", map[string]string{"b": "before", "f": "after"}[dir], ts)
	}
	return best, nil
}
