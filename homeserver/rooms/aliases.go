package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// checkAlias validates a room alias: #localpart:server.
func (s *Service) checkAlias(alias string) error {
	local, server, ok := strings.Cut(strings.TrimPrefix(alias, "#"), ":")
	if !strings.HasPrefix(alias, "#") || !ok || local == "" || server == "" || len(alias) > 255 ||
		strings.ContainsAny(local, " \t\n") {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid room alias %q", alias)
	}
	return nil
}

// reserveAlias claims an unused alias until releaseAlias, so that two
// requests creating it cannot both pass the check (the loser would
// otherwise fail a shared group commit). The lookup runs after the claim
// and outside aliasMu: it may ask an application service about an alias
// in its namespace, which must not stall every other alias creation.
func (s *Service) reserveAlias(ctx context.Context, alias string) error {
	inUse := &homeserver.Error{Code: homeserver.ErrRoomInUse, Message: "Room alias " + alias + " already exists", Status: 409}
	s.aliasMu.Lock()
	if s.aliasHeld[alias] {
		s.aliasMu.Unlock()
		return inUse
	}
	s.aliasHeld[alias] = true
	s.aliasMu.Unlock()
	_, _, err := s.aliases.Alias(ctx, alias)
	if err == nil {
		s.releaseAlias(alias)
		return inUse
	}
	if !errors.Is(err, storage.ErrNotFound) {
		s.releaseAlias(alias)
		return err
	}
	return nil
}

func (s *Service) releaseAlias(alias string) {
	s.aliasMu.Lock()
	delete(s.aliasHeld, alias)
	s.aliasMu.Unlock()
}

// SetAlias maps a local alias to a room (PUT /directory/room/{alias}).
func (s *Service) SetAlias(ctx context.Context, dev homeserver.Device, alias, roomID string) error {
	if err := s.checkAlias(alias); err != nil {
		return err
	}
	if !strings.HasSuffix(alias, ":"+s.id.ServerName) {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Alias must be on server %s", s.id.ServerName)
	}
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	if _, err := s.room(ctx, roomID); err != nil {
		if errors.Is(err, errNoRoom) {
			return homeserver.Errorf(homeserver.ErrNotFound, "Unknown room %s", roomID)
		}
		return err
	}
	if err := s.reserveAlias(ctx, alias); err != nil {
		return err
	}
	defer s.releaseAlias(alias)
	err := s.aliases.CreateAlias(ctx, alias, roomID, dev.UserID)
	if errors.Is(err, storage.ErrConflict) {
		return &homeserver.Error{Code: homeserver.ErrRoomInUse, Message: "Room alias " + alias + " already exists", Status: 409}
	}
	return err
}

// ResolveAlias returns the room of an alias and the servers to join via.
func (s *Service) ResolveAlias(ctx context.Context, alias string) (string, []string, error) {
	if err := s.checkAlias(alias); err != nil {
		return "", nil, err
	}
	roomID, _, err := s.aliases.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, homeserver.Errorf(homeserver.ErrNotFound, "Room alias %s not found", alias)
	}
	if err != nil {
		return "", nil, err
	}
	return roomID, []string{s.id.ServerName}, nil
}

// DeleteAlias removes an alias; its creator, a server admin or a room
// member allowed to set m.room.canonical_alias may do so.
func (s *Service) DeleteAlias(ctx context.Context, dev homeserver.Device, alias string) error {
	if err := s.checkAlias(alias); err != nil {
		return err
	}
	roomID, creator, err := s.aliases.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) {
		return homeserver.Errorf(homeserver.ErrNotFound, "Room alias %s not found", alias)
	}
	if err != nil {
		return err
	}
	if creator != dev.UserID && !dev.IsAdmin && !s.canSendState(ctx, dev.UserID, roomID, spec.MRoomCanonicalAlias) {
		return homeserver.Errorf(homeserver.ErrForbidden, "You may not delete alias %s", alias)
	}
	if err := s.aliases.DeleteAlias(ctx, alias); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// RoomAliases lists a room's local aliases (GET /rooms/{roomId}/aliases).
func (s *Service) RoomAliases(ctx context.Context, dev homeserver.Device, roomID string) ([]string, error) {
	if err := s.canRead(ctx, dev.UserID, roomID); err != nil {
		return nil, err
	}
	return s.aliases.RoomAliases(ctx, roomID)
}

// canSendState reports whether userID is joined with enough power to set
// a state event of type typ.
func (s *Service) canSendState(ctx context.Context, userID, roomID, typ string) bool {
	r, err := s.room(ctx, roomID)
	if err != nil || s.membershipOf(userID, roomID).membership != spec.Join {
		return false
	}
	level, pl := r.powerLevel(userID)
	if pl == nil {
		return level > 0
	}
	return level >= pl.EventLevel(typ, true)
}

// powerLevel returns a user's committed power level and the power levels
// (nil if the room has none). Creators of v12 rooms have infinite power.
func (r *room) powerLevel(userID string) (int64, *gmsl.PowerLevelContent) {
	create := r.stateEvent(spec.MRoomCreate, "")
	if create != nil && r.ver.PrivilegedCreators() {
		for _, c := range gmsl.CreatorsFromCreateEvent(create.PDU) {
			if c == userID {
				return math.MaxInt64, nil
			}
		}
	}
	plEv := r.stateEvent(spec.MRoomPowerLevels, "")
	if plEv == nil {
		if create != nil && create.Sender == userID {
			return 100, nil
		}
		return 0, nil
	}
	pl, err := plEv.PDU.PowerLevels()
	if err != nil {
		return 0, nil
	}
	return pl.UserLevel(spec.SenderID(userID)), pl
}

// checkCanonicalAlias checks an m.room.canonical_alias content sent by a
// client: alias and every alt_aliases entry must be a valid alias that
// exists here and points to roomID (spec: 400 M_BAD_ALIAS otherwise).
// Aliases of other servers cannot be checked without federation, so they
// are refused too.
func (s *Service) checkCanonicalAlias(ctx context.Context, roomID string, content json.RawMessage) error {
	var c struct {
		Alias      *string   `json:"alias"`
		AltAliases *[]string `json:"alt_aliases"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Invalid m.room.canonical_alias content: alias must be a string, alt_aliases a list of strings")
	}
	var all []string
	if c.Alias != nil {
		all = append(all, *c.Alias)
	}
	if c.AltAliases != nil {
		all = append(all, *c.AltAliases...)
	}
	for _, a := range all {
		if s.checkAlias(a) != nil {
			return homeserver.Errorf(homeserver.ErrBadAlias, "Invalid room alias %q", a)
		}
		target, _, err := s.aliases.Alias(ctx, a)
		if errors.Is(err, storage.ErrNotFound) {
			return homeserver.Errorf(homeserver.ErrBadAlias, "Room alias %s does not exist", a)
		}
		if err != nil {
			return fmt.Errorf("resolve alias %s: %w", a, err)
		}
		if target != roomID {
			return homeserver.Errorf(homeserver.ErrBadAlias, "Room alias %s points to another room", a)
		}
	}
	return nil
}
