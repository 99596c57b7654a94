package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

const (
	tombstoneType    = "m.room.tombstone"
	spaceParentType  = "m.space.parent"
	relatedGroupType = "m.room.related_groups"
)

// upgradeCopied are the state types a replacement room inherits (after
// its create event, the upgrader's join and the power levels), in the
// order they are sent. Space children and parents are copied for every
// state key; bans follow them.
var upgradeCopied = []string{
	spec.MRoomJoinRules, spec.MRoomHistoryVisibility, spec.MRoomGuestAccess, spec.MRoomName,
	spec.MRoomTopic, spec.MRoomAvatar, spec.MRoomEncryption, "m.room.server_acl", relatedGroupType,
	spec.MRoomCanonicalAlias,
}

// UpgradeRoom replaces a room by a new one of another version (POST
// /rooms/{roomId}/upgrade): it creates the room with a predecessor link
// and the transferable state, tombstones the old room, moves its local
// aliases (and directory listing) to the new one, and raises the old
// room's events_default and invite levels so ordinary members can no
// longer talk there. The caller must be allowed to send m.room.tombstone.
func (s *Service) UpgradeRoom(ctx context.Context, dev homeserver.Device, roomID, newVersion string, additionalCreators []string) (string, error) {
	// One upgrade of a room at a time. The same user's request for the
	// same version arriving while one runs, or shortly after it succeeded
	// (a double click, a client retrying after a lost answer), gets the
	// same replacement room instead of making a second one; anyone else
	// waits and then upgrades on their own rights.
	for {
		call := &upgradeCall{done: make(chan struct{}), user: dev.UserID, version: newVersion}
		prev, busy := s.upgrades.LoadOrStore(roomID, call)
		if !busy {
			call.newRoom, call.err = s.upgradeRoom(ctx, dev, roomID, newVersion, additionalCreators)
			if call.err != nil {
				s.upgrades.Delete(roomID) // before done: waiters must not find it again
			} else {
				time.AfterFunc(upgradeRetryWindow, func() { s.upgrades.CompareAndDelete(roomID, call) })
			}
			close(call.done)
			return call.newRoom, call.err
		}
		p := prev.(*upgradeCall)
		select {
		case <-p.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if p.err != nil {
			continue // it failed and is gone: try ourselves
		}
		if p.user == dev.UserID && p.version == newVersion {
			return p.newRoom, nil
		}
		return s.upgradeRoom(ctx, dev, roomID, newVersion, additionalCreators)
	}
}

// upgradeRetryWindow is how long a finished upgrade answers its user's
// repeated requests with the same replacement room.
const upgradeRetryWindow = 30 * time.Second

// upgradeCall is an upgrade in progress or just finished.
type upgradeCall struct {
	done    chan struct{}
	user    string
	version string
	newRoom string
	err     error
}

func (s *Service) upgradeRoom(ctx context.Context, dev homeserver.Device, roomID, newVersion string, additionalCreators []string) (string, error) {
	if err := parseRoomID(roomID); err != nil {
		return "", err
	}
	ver, err := roomVersion(newVersion)
	if err != nil {
		return "", err
	}
	for _, c := range additionalCreators {
		if _, err := parseUserID(c); err != nil {
			return "", err
		}
	}
	if len(additionalCreators) > 0 && !ver.PrivilegedCreators() {
		return "", homeserver.Errorf(homeserver.ErrInvalidParam, "additional_creators needs a room version with privileged creators (12)")
	}
	old, err := s.room(ctx, roomID)
	if errors.Is(err, errNoRoom) {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	if err != nil {
		return "", err
	}
	if s.membershipOf(dev.UserID, roomID).membership != spec.Join {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	if !s.canSendState(ctx, dev.UserID, roomID, tombstoneType) {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You may not upgrade room %s (no power to send %s)", roomID, tombstoneType)
	}
	me, err := s.profileFor(ctx, dev.UserID)
	if err != nil {
		return "", err
	}
	steps, err := s.upgradeSteps(old, ver, me, additionalCreators)
	if err != nil {
		return "", err
	}
	old.view.RLock()
	published := old.published
	old.view.RUnlock()
	newID, err := s.createWith(ctx, ver, published, "", steps)
	if err != nil {
		return "", fmt.Errorf("upgrade %s: create replacement: %w", roomID, err)
	}

	// From here the new room exists: the old room's follow-up changes are
	// best effort, as Synapse does, and never fail the request.
	if _, err := s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: tombstoneType, StateKey: strPtr(""),
		Content: mustJSON(map[string]string{"body": "This room has been replaced", "replacement_room": newID})}); err != nil {
		return "", fmt.Errorf("upgrade %s: tombstone: %w", roomID, err)
	}
	s.moveAliases(ctx, dev, old, newID)
	if published {
		if err := s.setPublished(ctx, old, false); err != nil {
			s.log.Warn("upgrade: unpublish old room", "room", roomID, "err", err)
		}
	}
	if pl := restrictedPowerLevels(old); pl != nil {
		if _, err := s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: spec.MRoomPowerLevels, StateKey: strPtr(""), Content: pl}); err != nil {
			s.log.Warn("upgrade: restrict old room power levels", "room", roomID, "err", err)
		}
	}
	return newID, nil
}

// upgradeSteps builds the replacement room's initial events from old's
// committed state.
func (s *Service) upgradeSteps(old *room, ver gmsl.IRoomVersion, me memberProfile, additionalCreators []string) ([]proto, error) {
	sender := me.userID
	create := old.stateEvent(spec.MRoomCreate, "")
	if create == nil {
		return nil, fmt.Errorf("room %s has no create event", old.id)
	}
	cc := map[string]json.RawMessage{}
	_ = json.Unmarshal(create.PDU.Content(), &cc)
	for _, k := range []string{"creator", "room_version", "predecessor", "additional_creators"} {
		delete(cc, k)
	}
	cc["room_version"] = mustJSON(string(ver.Version()))
	pred := map[string]string{"room_id": old.id}
	if !ver.DomainlessRoomIDs() {
		// The last event known in the old room; v12 drops event_id.
		old.view.RLock()
		if n := len(old.recent); n > 0 {
			pred["event_id"] = old.recent[n-1].ID
		}
		old.view.RUnlock()
	}
	cc["predecessor"] = mustJSON(pred)
	if string(ver.Version()) == "10" {
		cc["creator"] = mustJSON(sender)
	}
	creators := map[string]bool{}
	if ver.PrivilegedCreators() {
		creators[sender] = true
		if len(additionalCreators) > 0 {
			var extra []string
			for _, c := range additionalCreators {
				if !creators[c] {
					creators[c] = true
					extra = append(extra, c)
				}
			}
			if len(extra) > 0 {
				cc["additional_creators"] = mustJSON(extra)
			}
		}
	}

	finalPL, tempPL, myLevel, levels, err := upgradePowerLevels(old, ver, sender, creators)
	if err != nil {
		return nil, err
	}
	steps := []proto{
		{Sender: sender, Type: spec.MRoomCreate, StateKey: strPtr(""), Content: mustJSON(cc)},
		{Sender: sender, Type: spec.MRoomMember, StateKey: strPtr(sender), Content: me.content(spec.Join, false)},
	}
	if tempPL != nil {
		steps = append(steps, proto{Sender: sender, Type: spec.MRoomPowerLevels, StateKey: strPtr(""), Content: tempPL})
	} else if finalPL != nil {
		steps = append(steps, proto{Sender: sender, Type: spec.MRoomPowerLevels, StateKey: strPtr(""), Content: finalPL})
	}
	nonEmpty := func(e *Event) bool {
		var m map[string]json.RawMessage
		return json.Unmarshal(e.PDU.Content(), &m) == nil && len(m) > 0
	}
	for _, typ := range upgradeCopied {
		if e := old.stateEvent(typ, ""); e != nil && nonEmpty(e) {
			steps = append(steps, proto{Sender: sender, Type: typ, StateKey: strPtr(""), Content: e.PDU.Content()})
		}
	}
	// Children only mean something in a space; any room may name parents.
	var roomType string
	if t, ok := cc["type"]; ok {
		_ = json.Unmarshal(t, &roomType)
	}
	var spaces, bans []proto
	for _, e := range old.currentState() {
		switch {
		case ((e.Type == spaceChildType && roomType == roomTypeSpace) || e.Type == spaceParentType) && nonEmpty(e):
			spaces = append(spaces, proto{Sender: sender, Type: e.Type, StateKey: strPtr(*e.StateKey), Content: e.PDU.Content()})
		case e.Type == spec.MRoomMember && e.Membership() == spec.Ban && *e.StateKey != sender && levels[*e.StateKey] < myLevel:
			c := map[string]any{"membership": spec.Ban}
			var oc struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(e.PDU.Content(), &oc) == nil && oc.Reason != "" {
				c["reason"] = oc.Reason
			}
			bans = append(bans, proto{Sender: sender, Type: spec.MRoomMember, StateKey: strPtr(*e.StateKey), Content: mustJSON(c)})
		}
	}
	// Bans of users as powerful as the upgrader are skipped above: the
	// auth rules would refuse them and with them the whole new room.
	sortProtos(spaces)
	sortProtos(bans)
	steps = append(append(steps, spaces...), bans...)
	if tempPL != nil && finalPL != nil {
		steps = append(steps, proto{Sender: sender, Type: spec.MRoomPowerLevels, StateKey: strPtr(""), Content: finalPL})
	}
	return steps, nil
}

// sortProtos orders state events by type then state key, so an upgrade
// builds the same events in the same order every time.
func sortProtos(ps []proto) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Type != ps[j].Type {
			return ps[i].Type < ps[j].Type
		}
		return *ps[i].StateKey < *ps[j].StateKey
	})
}

// upgradePowerLevels returns the replacement room's power levels and,
// when the upgrader could not send the copied state with them, a
// temporary version that raises the upgrader (sent first, replaced by the
// final one at the end). Creators of a v12 room must not appear in users.
// level is the upgrader's power while the copied state is sent, and users
// the other users' levels then.
func upgradePowerLevels(old *room, ver gmsl.IRoomVersion, sender string, creators map[string]bool) (final, temp json.RawMessage, level int64, users map[string]int64, err error) {
	level = math.MaxInt64
	plEv := old.stateEvent(spec.MRoomPowerLevels, "")
	if plEv == nil {
		return nil, nil, level, nil, nil
	}
	var pl map[string]json.RawMessage
	if err := json.Unmarshal(plEv.PDU.Content(), &pl); err != nil {
		return nil, nil, 0, nil, fmt.Errorf("room %s: power levels: %w", old.id, err)
	}
	parsed, err := plEv.PDU.PowerLevels()
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("room %s: power levels: %w", old.id, err)
	}
	users = map[string]int64{}
	for u, l := range parsed.Users {
		users[u] = l
	}
	if old.ver.PrivilegedCreators() {
		// The old room's creators had unbounded power: keep them on top
		// (those who are creators of the new room are removed below).
		top := int64(100)
		for _, l := range users {
			top = max(top, l)
		}
		if c := old.stateEvent(spec.MRoomCreate, ""); c != nil {
			for _, u := range gmsl.CreatorsFromCreateEvent(c.PDU) {
				users[u] = top
			}
		}
	}
	for c := range creators {
		delete(users, c)
	}
	pl["users"] = mustJSON(users)
	final = mustJSON(pl)
	if ver.PrivilegedCreators() {
		return final, nil, level, users, nil
	}
	// What the upgrader needs to send every copied event.
	need := max(parsed.StateDefault, parsed.Ban, parsed.EventLevel(spec.MRoomPowerLevels, true))
	for _, typ := range append([]string{spaceChildType, spaceParentType}, upgradeCopied...) {
		need = max(need, parsed.EventLevel(typ, true))
	}
	have, ok := users[sender]
	if !ok {
		have = parsed.UsersDefault
	}
	if have >= need {
		return final, nil, have, users, nil
	}
	raised := map[string]int64{}
	for u, l := range users {
		raised[u] = l
	}
	raised[sender] = need
	tmp := map[string]json.RawMessage{}
	for k, v := range pl {
		tmp[k] = v
	}
	tmp["users"] = mustJSON(raised)
	return final, mustJSON(tmp), need, users, nil
}

// restrictedPowerLevels returns old's power levels with events_default
// and invite raised above users_default (to at least 50), or nil when
// they already are.
func restrictedPowerLevels(old *room) json.RawMessage {
	plEv := old.stateEvent(spec.MRoomPowerLevels, "")
	if plEv == nil {
		return nil
	}
	parsed, err := plEv.PDU.PowerLevels()
	if err != nil {
		return nil
	}
	var pl map[string]json.RawMessage
	if json.Unmarshal(plEv.PDU.Content(), &pl) != nil {
		return nil
	}
	level := max(int64(50), parsed.UsersDefault+1)
	changed := false
	if parsed.EventsDefault < level {
		pl["events_default"], changed = mustJSON(level), true
	}
	if parsed.Invite < level {
		pl["invite"], changed = mustJSON(level), true
	}
	if !changed {
		return nil
	}
	return mustJSON(pl)
}

// moveAliases points old's local aliases at newID and moves the
// canonical alias: the old room's m.room.canonical_alias is emptied
// (the new room already carries a copy).
func (s *Service) moveAliases(ctx context.Context, dev homeserver.Device, old *room, newID string) {
	aliases, err := s.aliases.RoomAliases(ctx, old.id)
	if err != nil {
		s.log.Warn("upgrade: list aliases", "room", old.id, "err", err)
	}
	for _, a := range aliases {
		if !strings.HasSuffix(a, ":"+s.id.ServerName) {
			continue
		}
		_, creator, err := s.aliases.Alias(ctx, a)
		if err == nil {
			err = s.aliases.DeleteAlias(ctx, a)
		}
		if err == nil {
			err = s.aliases.CreateAlias(ctx, a, newID, creator)
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("upgrade: move alias", "alias", a, "err", err)
		}
	}
	if e := old.stateEvent(spec.MRoomCanonicalAlias, ""); e != nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(e.PDU.Content(), &m) == nil && len(m) > 0 {
			if _, err := s.sendEvents(ctx, old.id, proto{Sender: dev.UserID, Type: spec.MRoomCanonicalAlias, StateKey: strPtr(""),
				Content: json.RawMessage("{}")}); err != nil {
				s.log.Warn("upgrade: clear old canonical alias", "room", old.id, "err", err)
			}
		}
	}
}
