package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"scop/ci-notify/store"
)

// RepoStateType is a state event ci-notify puts in the rooms it creates,
// naming the repository, so that an alias clash with another repository
// (or a room someone else made) is told apart from its own room.
var RepoStateType = event.Type{Type: "org.scop.ci_notify.repo", Class: event.StateEventType}

// PowerLevels is the power_level_content_override of created rooms:
// read-only for everyone but the bot. Users default to 0 and every message
// needs 50, every state change 100, an invitation 50; the bot is the creator, so the server's
// defaults give it 100 (room versions ≤ 11) or creator power (12). It is not
// listed in "users", which room version 12 forbids for creators.
func PowerLevels() *event.PowerLevelsEventContent {
	hundred := 100
	fifty := 50
	return &event.PowerLevelsEventContent{
		UsersDefault:    0,
		EventsDefault:   50,
		StateDefaultPtr: &hundred,
		InvitePtr:       &fifty,
		// No "events" map: the override would replace the server's whole
		// map, and events_default already covers messages and reactions.
	}
}

// ensureRoom returns the room for repo: the one stored, the one configured,
// or a new one.
func (n *Notifier) ensureRoom(ctx context.Context, repo string) (id.RoomID, error) {
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	if r, err := n.store.Room(ctx, repo); err == nil {
		return id.RoomID(r), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	var roomID id.RoomID
	var err error
	if target := n.cfg.Rooms[repo]; target != "" {
		roomID, err = n.joinConfigured(ctx, target)
	} else {
		roomID, err = n.createRoom(ctx, repo)
	}
	if err != nil {
		return "", fmt.Errorf("room for %s: %w", repo, err)
	}
	if err := n.store.SetRepoRoom(ctx, repo, string(roomID)); err != nil {
		return "", err
	}
	return roomID, nil
}

// joinConfigured joins a configured room (ID or alias); joining a room the
// bot is already in is harmless.
func (n *Notifier) joinConfigured(ctx context.Context, target string) (id.RoomID, error) {
	var roomID id.RoomID
	err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		resp, err := n.cli.JoinRoom(ctx, target, nil)
		if err == nil {
			roomID = resp.RoomID
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("join %s: %w", target, err)
	}
	return roomID, nil
}

// AliasLocalpart is the alias localpart of repo's room: prefix + the
// repository's full name lowercased, with every character outside
// [a-z0-9._=-] (such as "/") as "_".
func AliasLocalpart(prefix, repo string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(repo) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '=', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 200 {
		sum := sha256.Sum256([]byte(repo))
		s = s[:180] + "_" + hex.EncodeToString(sum[:6])
	}
	return s
}

func (n *Notifier) createRoom(ctx context.Context, repo string) (id.RoomID, error) {
	local := AliasLocalpart(n.cfg.AliasPrefix, repo)
	roomID, err := n.createWithAlias(ctx, repo, local)
	if errors.Is(err, errAliasTaken) {
		// Another repository's name sanitised to the same alias (a/b-c vs
		// a-b/c), or a stranger's room: fall back to a hashed alias.
		sum := sha256.Sum256([]byte(repo))
		roomID, err = n.createWithAlias(ctx, repo, local+"_"+hex.EncodeToString(sum[:4]))
	}
	return roomID, err
}

var errAliasTaken = errors.New("alias taken by another room")

func (n *Notifier) createWithAlias(ctx context.Context, repo, local string) (id.RoomID, error) {
	invite := make([]id.UserID, 0, len(n.cfg.Invite))
	for _, u := range append(append([]string(nil), n.cfg.Invite...), n.cfg.RepoInvite[repo]...) {
		if id.UserID(u) != n.cli.UserID {
			invite = append(invite, id.UserID(u))
		}
	}
	preset := "public_chat"
	if n.cfg.InviteOnly {
		preset = "private_chat"
	}
	emptyKey := ""
	initial := []*event.Event{{
		Type:     RepoStateType,
		StateKey: &emptyKey,
		Content:  event.Content{Raw: map[string]any{"repo": repo}},
	}}
	if n.cfg.Encrypt {
		// Parsed, not Raw: mautrix records parsed initial state in its
		// state store, which is what makes the client encrypt.
		initial = append(initial, &event.Event{
			Type:     event.StateEncryption,
			StateKey: &emptyKey,
			Content:  event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		})
	}
	req := &mautrix.ReqCreateRoom{
		Visibility:         "private", // not in the public directory; joinable by alias
		RoomAliasName:      local,
		Name:               "CI: " + repo,
		Topic:              "Build results for " + repo + ", posted by ci-notify. Read-only.",
		Invite:             invite,
		Preset:             preset,
		InitialState:       initial,
		PowerLevelOverride: PowerLevels(),
	}
	var roomID id.RoomID
	err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		resp, err := n.cli.CreateRoom(ctx, req)
		if err == nil {
			roomID = resp.RoomID
		}
		return err
	})
	if err == nil {
		n.log.Info("room created", "repo", repo, "room_id", roomID, "alias", local)
		return roomID, nil
	}
	if !errors.Is(err, mautrix.MRoomInUse) {
		return "", fmt.Errorf("create room: %w", err)
	}
	// The alias exists: ours from an earlier attempt whose answer was lost
	// (or a state directory that was wiped), or someone else's.
	_, server, _ := n.cli.UserID.Parse()
	alias := id.NewRoomAlias(local, server)
	var res *mautrix.RespAliasResolve
	if err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		var err error
		res, err = n.cli.ResolveAlias(ctx, alias)
		return err
	}); err != nil {
		return "", fmt.Errorf("resolve %s: %w", alias, err)
	}
	var content struct {
		Repo string `json:"repo"`
	}
	if err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		return n.cli.StateEvent(ctx, res.RoomID, RepoStateType, "", &content)
	}); err != nil || content.Repo != repo {
		return "", fmt.Errorf("%s: %w", alias, errAliasTaken)
	}
	n.log.Info("room found by alias", "repo", repo, "room_id", res.RoomID, "alias", alias)
	return res.RoomID, nil
}

// InviteConfigured invites, into each room ci-notify created, the people the
// config lists (Invite, RepoInvite) who are neither in the room nor invited
// yet: people added to the config after the room was made. Rooms mapped by
// Rooms are left alone; their members are not ci-notify's business. Errors
// are logged, not returned: a missing invite must not stop posting.
func (n *Notifier) InviteConfigured(ctx context.Context) {
	rooms, err := n.store.RepoRooms(ctx)
	if err != nil {
		n.log.Error("invite configured users", "err", err)
		return
	}
	for repo, roomID := range rooms {
		if n.cfg.Rooms[repo] != "" {
			continue
		}
		for _, u := range append(append([]string(nil), n.cfg.Invite...), n.cfg.RepoInvite[repo]...) {
			user := id.UserID(u)
			if user == n.cli.UserID {
				continue
			}
			var member event.MemberEventContent
			err := n.cli.StateEvent(ctx, id.RoomID(roomID), event.StateMember, u, &member)
			if err == nil && (member.Membership == event.MembershipJoin || member.Membership == event.MembershipInvite ||
				member.Membership == event.MembershipBan) {
				continue
			}
			if err != nil && !errors.Is(err, mautrix.MNotFound) {
				n.log.Warn("check membership", "room_id", roomID, "user_id", u, "err", err)
				continue
			}
			err = n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
				_, err := n.cli.InviteUser(ctx, id.RoomID(roomID), &mautrix.ReqInviteUser{UserID: user})
				return err
			})
			if err != nil {
				n.log.Warn("invite configured user", "room_id", roomID, "user_id", u, "err", err)
				continue
			}
			n.log.Info("invited configured user", "repo", repo, "room_id", roomID, "user_id", u)
		}
	}
}
