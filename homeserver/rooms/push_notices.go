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
// stream order) whose push rules notify some of users, with those users'
// actions, and the position reached (push.Source). Each event is
// evaluated for those of users joined to its room, and an invite also
// for its target.
func (s *Service) PushNotices(ctx context.Context, from int64, limit int, users map[string]bool) ([]push.Notice, int64, error) {
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
		targets := s.pushCandidates(r, e, users, suffix)
		if len(targets) == 0 {
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
		for _, u := range targets {
			ur, err := s.evaluator(ctx, u)
			if err != nil {
				return nil, from, err
			}
			ignored, err := s.ignoredUsers(ctx, u)
			if err != nil {
				return nil, from, err
			}
			if ignored[e.Sender] {
				continue
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

// pushCandidates returns those of users who are joined to r (or are
// the target of the invite e) other than e's sender: by looking each
// user up when there are few, else by scanning the room's members.
func (s *Service) pushCandidates(r *room, e StreamEvent, users map[string]bool, suffix string) []string {
	var out []string
	ok := func(u, membership string) bool {
		return u != e.Sender && (membership == spec.Join ||
			e.Membership == spec.Invite && e.StateKey != nil && *e.StateKey == u)
	}
	if len(users) <= 64 {
		for u := range users {
			if ok(u, s.membershipOf(u, r.id).membership) {
				out = append(out, u)
			}
		}
		return out
	}
	r.view.RLock()
	defer r.view.RUnlock()
	for k, m := range r.cur {
		if k.typ == spec.MRoomMember && users[k.key] && strings.HasSuffix(k.key, suffix) && ok(k.key, m.Membership()) {
			out = append(out, k.key)
		}
	}
	return out
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
