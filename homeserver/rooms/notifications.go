package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"scop/homeserver"
	"scop/homeserver/push"
)

// notificationScan bounds how many events of each room one
// GET /notifications page looks at.
const notificationScan = 200

// Notification is one entry of GET /notifications.
type Notification struct {
	Actions    []any           `json:"actions"`
	Event      json.RawMessage `json:"event"`
	ProfileTag string          `json:"profile_tag,omitempty"`
	Read       bool            `json:"read"`
	RoomID     string          `json:"room_id"`
	TS         int64           `json:"ts"`
	pos        int64
}

// NotificationsPage is the GET /notifications response.
type NotificationsPage struct {
	NextToken     string         `json:"next_token,omitempty"`
	Notifications []Notification `json:"notifications"`
}

// Notifications lists the events of the user's joined rooms that their
// push rules notify for, newest first, before the from token; with
// onlyHighlight only those that highlight. The list is computed from the
// rooms' events with the current rules, looking at most notificationScan
// events back in each room per page.
func (s *Service) Notifications(ctx context.Context, dev homeserver.Device, from string, limit int, onlyHighlight bool) (*NotificationsPage, error) {
	before := int64(math.MaxInt64)
	if from != "" {
		n, err := strconv.ParseInt(from, 10, 64)
		if err != nil || n <= 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid from token")
		}
		before = n
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	userID := dev.UserID
	ur, err := s.evaluator(ctx, userID)
	if err != nil {
		return nil, err
	}
	ignored, err := s.ignoredUsers(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []Notification
	for _, m := range s.userMemberships(userID) {
		if m.membership != spec.Join {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if errors.Is(err, errNoRoom) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("notifications of %s: %w", userID, err)
		}
		found, err := s.roomNotifications(ctx, r, ur, ignored, userID, m.joinedAt, before, limit, onlyHighlight)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos > out[j].pos })
	page := &NotificationsPage{Notifications: []Notification{}}
	if len(out) > limit {
		out = out[:limit]
		page.NextToken = strconv.FormatInt(out[limit-1].pos, 10)
	}
	page.Notifications = append(page.Notifications, out...)
	return page, nil
}

// roomNotifications returns up to limit notifying events of r with
// joinedAt < pos < before, newest first.
func (s *Service) roomNotifications(ctx context.Context, r *room, ur *userRules, ignored map[string]bool, userID string,
	joinedAt, before int64, limit int, onlyHighlight bool) ([]Notification, error) {
	r.view.RLock()
	readPos := int64(0)
	for _, typ := range []string{"m.read", "m.read.private"} {
		if rc, ok := r.receipts[receiptKey{userID, typ, ""}]; ok {
			readPos = max(readPos, rc.EventPos)
		}
	}
	recent, floor := r.recent, r.floor
	r.view.RUnlock()
	rp := s.roomPush(r)
	var out []Notification
	scanned := 0
	visit := func(e *Event, keep bool) bool {
		if e.Pos >= before {
			return true
		}
		if e.Pos <= joinedAt || scanned >= notificationScan || len(out) > limit {
			return false
		}
		scanned++
		a := s.actions(rp, ur, userID, e, ignored, keep)
		if !a.Notify || onlyHighlight && !a.Highlight {
			return true
		}
		out = append(out, Notification{Actions: actionList(a), Event: e.JSON("", ""), Read: e.Pos <= readPos,
			RoomID: r.id, TS: gjson.GetBytes(e.Client, "origin_server_ts").Int(), pos: e.Pos})
		return true
	}
	for i := len(recent) - 1; i >= 0; i-- {
		if !visit(recent[i], true) {
			return out, nil
		}
	}
	to := min(floor, before-1)
	for to > joinedAt {
		stored, err := s.db.RoomEvents(ctx, r.nid, joinedAt, to, 100, true)
		if err != nil {
			return nil, fmt.Errorf("notifications in %s: %w", r.id, err)
		}
		if len(stored) == 0 {
			break
		}
		for _, se := range stored {
			e := lightEvent(se)
			if !visit(e, false) {
				return out, nil
			}
			to = e.Pos - 1
		}
	}
	return out, nil
}

// actionList renders actions as the spec's array.
func actionList(a push.Actions) []any {
	out := []any{"notify"}
	for name, v := range a.Tweaks {
		out = append(out, map[string]any{"set_tweak": name, "value": v})
	}
	return out
}
