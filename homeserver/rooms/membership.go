package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// resolveRoom turns a room ID or alias into a known room ID.
func (s *Service) resolveRoom(ctx context.Context, roomIDOrAlias string) (string, error) {
	if strings.HasPrefix(roomIDOrAlias, "#") {
		if err := s.checkAlias(roomIDOrAlias); err != nil {
			return "", err
		}
		roomID, _, err := s.aliases.Alias(ctx, roomIDOrAlias)
		if errors.Is(err, storage.ErrNotFound) {
			return "", homeserver.Errorf(homeserver.ErrNotFound, "Room alias %s not found", roomIDOrAlias)
		}
		return roomID, err
	}
	if err := parseRoomID(roomIDOrAlias); err != nil {
		return "", err
	}
	return roomIDOrAlias, nil
}

// Join joins the caller to a local room (POST /join/{roomIdOrAlias} and
// /rooms/{roomId}/join). Joining a room one is already in is a no-op.
func (s *Service) Join(ctx context.Context, dev homeserver.Device, roomIDOrAlias, reason string) (string, error) {
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
	if m := s.membershipOf(dev.UserID, roomID); m.membership == spec.Join {
		return roomID, nil
	}
	authoriser, err := s.restrictedJoinAuthoriser(r, dev.UserID)
	if err != nil {
		return "", err
	}
	me, err := s.profileFor(ctx, dev.UserID)
	if err != nil {
		return "", err
	}
	content := withReason(me.content(spec.Join, false), reason)
	if authoriser != "" {
		content = withField(content, "join_authorised_via_users_server", authoriser)
	}
	_, err = s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomMember, StateKey: &dev.UserID, Content: content})
	return roomID, err
}

// Leave leaves (or rejects an invite to) a room.
func (s *Service) Leave(ctx context.Context, dev homeserver.Device, roomID, reason string) error {
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	m := s.membershipOf(dev.UserID, roomID)
	switch m.membership {
	case "":
		return homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	case spec.Leave, spec.Ban:
		return nil
	}
	_, err := s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomMember, StateKey: &dev.UserID,
		Content: withReason(mustJSON(map[string]string{"membership": spec.Leave}), reason)})
	return err
}

// Invite invites a local user.
func (s *Service) Invite(ctx context.Context, dev homeserver.Device, roomID, userID, reason string) error {
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	p, err := s.profileFor(ctx, userID)
	if err != nil {
		return err
	}
	if m := s.membershipOf(userID, roomID); m.membership == spec.Join || m.membership == spec.Ban {
		return homeserver.Errorf(homeserver.ErrForbidden, "%s is already %sed in the room", userID, m.membership)
	}
	_, err = s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomMember, StateKey: &userID,
		Content: withReason(p.content(spec.Invite, false), reason)})
	return err
}

// Kick, Ban and Unban change another user's membership.
func (s *Service) Kick(ctx context.Context, dev homeserver.Device, roomID, userID, reason string) error {
	return s.setOtherMembership(ctx, dev, roomID, userID, spec.Leave, reason, []string{spec.Join, spec.Invite, spec.Knock})
}

// Ban bans a user from a room.
func (s *Service) Ban(ctx context.Context, dev homeserver.Device, roomID, userID, reason string) error {
	return s.setOtherMembership(ctx, dev, roomID, userID, spec.Ban, reason, nil)
}

// Unban lifts a ban.
func (s *Service) Unban(ctx context.Context, dev homeserver.Device, roomID, userID, reason string) error {
	return s.setOtherMembership(ctx, dev, roomID, userID, spec.Leave, reason, []string{spec.Ban})
}

func (s *Service) setOtherMembership(ctx context.Context, dev homeserver.Device, roomID, userID, membership, reason string, from []string) error {
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	if _, err := parseUserID(userID); err != nil {
		return err
	}
	if m := s.membershipOf(dev.UserID, roomID); m.membership != spec.Join {
		return homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	if from != nil {
		cur := s.membershipOf(userID, roomID).membership
		ok := false
		for _, f := range from {
			ok = ok || f == cur
		}
		if !ok {
			return homeserver.Errorf(homeserver.ErrForbidden, "%s's membership is %q", userID, cur)
		}
	}
	_, err := s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomMember, StateKey: &userID,
		Content: withReason(mustJSON(map[string]string{"membership": membership}), reason)})
	return err
}

// Forget hides a left room from the caller's future syncs.
func (s *Service) Forget(ctx context.Context, dev homeserver.Device, roomID string) error {
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	m := s.membershipOf(dev.UserID, roomID)
	switch m.membership {
	case "":
		return homeserver.Errorf(homeserver.ErrNotFound, "You were never in room %s", roomID)
	case spec.Join, spec.Invite, spec.Knock:
		return homeserver.Errorf(homeserver.ErrUnknown, "Leave the room before forgetting it")
	}
	r, err := s.room(ctx, roomID)
	if err != nil {
		return err
	}
	if err := s.db.SetForgotten(ctx, dev.UserID, r.nid); err != nil {
		return err
	}
	s.memMu.Lock()
	if cur := s.memberships[dev.UserID][roomID]; cur != nil && cur.pos == m.pos {
		c := *cur
		c.forgotten = true
		s.memberships[dev.UserID][roomID] = &c
	}
	s.memMu.Unlock()
	return nil
}

// UpdateProfile sends an updated m.room.member event into every room the
// user is joined to, after a display name or avatar change.
func (s *Service) UpdateProfile(ctx context.Context, userID, displayName, avatarURL string) error {
	var firstErr error
	for _, m := range s.userMemberships(userID) {
		if m.membership != spec.Join {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if err != nil {
			firstErr = errors.Join(firstErr, err)
			continue
		}
		content := map[string]json.RawMessage{}
		if cur := r.stateEvent(spec.MRoomMember, userID); cur != nil {
			_ = json.Unmarshal(cur.PDU.Content(), &content)
		}
		content["membership"] = mustJSON(spec.Join)
		delete(content, "reason")
		setOrDelete(content, "displayname", displayName)
		setOrDelete(content, "avatar_url", avatarURL)
		if _, err := s.sendEvents(ctx, m.roomID, proto{Sender: userID, Type: spec.MRoomMember, StateKey: &userID, Content: mustJSON(content)}); err != nil {
			firstErr = errors.Join(firstErr, err)
		}
	}
	return firstErr
}

func setOrDelete(m map[string]json.RawMessage, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = mustJSON(v)
}

func withReason(content json.RawMessage, reason string) json.RawMessage {
	if reason == "" {
		return content
	}
	return withField(content, "reason", reason)
}

// withField sets one top-level field of a JSON object content.
func withField(content json.RawMessage, key string, v any) json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(content, &m)
	m[key] = mustJSON(v)
	return mustJSON(m)
}
