package rooms

import (
	"context"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// Knock asks to be let into a room whose join rule is knock or
// knock_restricted (POST /knock/{roomIdOrAlias}); the room's members see
// an m.room.member event with membership knock and may invite (or kick)
// the knocker. It returns the room ID once the knock is durable.
func (s *Service) Knock(ctx context.Context, dev homeserver.Device, roomIDOrAlias, reason string) (string, error) {
	roomID, err := s.resolveRoom(ctx, roomIDOrAlias)
	if err != nil {
		return "", err
	}
	r, err := s.room(ctx, roomID)
	if err != nil {
		if errors.Is(err, errNoRoom) {
			return "", homeserver.Errorf(homeserver.ErrNotFound, "Unknown room %s (federation is not available)", roomID)
		}
		return "", err
	}
	switch s.membershipOf(dev.UserID, roomID).membership {
	case spec.Join:
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are already in room %s", roomID)
	case spec.Invite:
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are already invited to room %s: join it instead", roomID)
	case spec.Ban:
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are banned from room %s", roomID)
	}
	if jr := joinRulesOf(r).rule; jr != spec.Knock && jr != joinRuleKnockRestricted {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "Room %s does not accept knocks (join rule %q)", roomID, jr)
	}
	me, err := s.profileFor(ctx, dev.UserID)
	if err != nil {
		return "", err
	}
	_, err = s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomMember, StateKey: &dev.UserID,
		Content: withReason(me.content(spec.Knock, false), reason)})
	return roomID, err
}

// KnockedRoom is one entry of a sync response's rooms.knock.
type KnockedRoom struct {
	KnockState EventList `json:"knock_state"`
}

// syncKnock adds a room the user knocked on to resp's rooms.knock: in a
// full sync, or when the knock is newer than since. sync.go calls it for
// every membership; it ignores all but knocks.
func (s *Service) syncKnock(resp *SyncResponse, r *room, m membership, userID string, since int64, fullState bool) {
	if m.membership != spec.Knock || (since != 0 && m.pos <= since && !fullState) {
		return
	}
	resp.Rooms.Knock[m.roomID] = &KnockedRoom{KnockState: EventList{Events: inviteState(r, userID)}}
}
