package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"scop/homeserver/push"
)

// PushNotices returns the committed events after from (up to limit, in
// stream order) that give push actions to a local user accepted by want,
// with those users' actions, and the position reached (push.Source).
// Each event is evaluated for its room's joined local members, and an
// invite also for its target.
func (s *Service) PushNotices(ctx context.Context, from int64, limit int, want func(userID string) bool) ([]push.Notice, int64, error) {
	evs, reached, err := s.StreamEvents(ctx, from, limit)
	if err != nil {
		return nil, from, err
	}
	var out []push.Notice
	rps := map[string]*roomPush{}
	suffix := ":" + s.id.ServerName
	for _, e := range evs {
		r, err := s.room(ctx, e.RoomID)
		if errors.Is(err, errNoRoom) {
			continue
		}
		if err != nil {
			return nil, from, fmt.Errorf("push notices: %w", err)
		}
		var users []string
		r.view.RLock()
		for k, m := range r.cur {
			if k.typ == spec.MRoomMember && k.key != e.Sender && strings.HasSuffix(k.key, suffix) && want(k.key) &&
				(m.Membership() == spec.Join || e.Membership == spec.Invite && e.StateKey != nil && *e.StateKey == k.key) {
				users = append(users, k.key)
			}
		}
		r.view.RUnlock()
		if len(users) == 0 {
			continue
		}
		pe, err := push.ParseEvent(e.JSON)
		if err != nil {
			continue
		}
		rp := rps[e.RoomID]
		if rp == nil {
			rp = s.roomPush(r)
			rps[e.RoomID] = rp
		}
		n := push.Notice{Pos: e.Pos, EventID: gjson.GetBytes(e.JSON, "event_id").String(), RoomID: e.RoomID,
			Type: e.Type, Sender: e.Sender, StateKey: e.StateKey, RoomName: stateString(r, spec.MRoomName, "name")}
		if c := gjson.GetBytes(e.JSON, "content"); c.IsObject() {
			n.Content = []byte(c.Raw)
		}
		if m := r.stateEvent(spec.MRoomMember, e.Sender); m != nil {
			n.SenderDisplayName = gjson.GetBytes(m.Client, "content.displayname").String()
		}
		for _, u := range users {
			ur, err := s.evaluator(ctx, u)
			if err != nil {
				return nil, from, err
			}
			if a := ur.evl.Evaluate(pe, rp.env(u, e.Sender)); a.Notify {
				n.Targets = append(n.Targets, push.Target{UserID: u, Actions: a})
			}
		}
		if len(n.Targets) > 0 {
			out = append(out, n)
		}
	}
	return out, reached, nil
}

// UnreadTotal is the user's notification count summed over the rooms
// they have joined (the badge of a push notification).
func (s *Service) UnreadTotal(ctx context.Context, userID string) (int, error) {
	pos, _ := s.notify.current()
	total := 0
	for _, m := range s.userMemberships(userID) {
		if m.membership != spec.Join {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if errors.Is(err, errNoRoom) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("unread total of %s: %w", userID, err)
		}
		u, err := s.unread(ctx, r, userID, m.joinedAt, pos)
		if err != nil {
			return 0, err
		}
		total += u.Notification
	}
	return total, nil
}
