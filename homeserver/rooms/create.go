package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// StateEvent is a state event given by a client (initial_state).
type StateEvent struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// CreateRoomRequest is the body of POST /createRoom.
type CreateRoomRequest struct {
	Visibility                string                     `json:"visibility"`
	RoomAliasName             string                     `json:"room_alias_name"`
	Name                      string                     `json:"name"`
	Topic                     string                     `json:"topic"`
	Invite                    []string                   `json:"invite"`
	Invite3PID                []json.RawMessage          `json:"invite_3pid"`
	RoomVersion               string                     `json:"room_version"`
	CreationContent           map[string]json.RawMessage `json:"creation_content"`
	InitialState              []StateEvent               `json:"initial_state"`
	Preset                    string                     `json:"preset"`
	IsDirect                  bool                       `json:"is_direct"`
	PowerLevelContentOverride map[string]json.RawMessage `json:"power_level_content_override"`
}

const (
	presetPrivate = "private_chat"
	presetTrusted = "trusted_private_chat"
	presetPublic  = "public_chat"
)

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// validate checks the request before anything is built.
func (req *CreateRoomRequest) validate(serverName string) (alias string, err error) {
	switch req.Visibility {
	case "", "public", "private":
	default:
		return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid visibility %q", req.Visibility)
	}
	switch req.Preset {
	case "", presetPrivate, presetTrusted, presetPublic:
	default:
		return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid preset %q", req.Preset)
	}
	for _, u := range req.Invite {
		if _, err := parseUserID(u); err != nil {
			return "", err
		}
	}
	if len(req.Invite3PID) > 0 {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "Third-party invites are not supported")
	}
	for _, st := range req.InitialState {
		if st.Type == "" || !isObject(st.Content) {
			return "", homeserver.Errorf(homeserver.ErrBadJSON, "initial_state entries need a type and an object content")
		}
		if st.Type == spec.MRoomCreate {
			return "", homeserver.Errorf(homeserver.ErrBadJSON, "initial_state cannot contain m.room.create")
		}
	}
	if req.RoomAliasName != "" {
		if strings.ContainsAny(req.RoomAliasName, ": \t\n#") {
			return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid room_alias_name")
		}
		alias = "#" + req.RoomAliasName + ":" + serverName
		if len(alias) > 255 {
			return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Alias too long")
		}
	}
	return alias, nil
}

// CreateRoom creates a room (POST /createRoom) and returns its ID once
// every initial event is durable.
func (s *Service) CreateRoom(ctx context.Context, dev homeserver.Device, req CreateRoomRequest) (string, error) {
	alias, err := req.validate(s.id.ServerName)
	if err != nil {
		return "", err
	}
	verStr := req.RoomVersion
	if verStr == "" {
		verStr = s.cfg.DefaultVersion
	}
	ver, err := roomVersion(verStr)
	if err != nil {
		return "", err
	}
	if alias != "" {
		if err := s.reserveAlias(ctx, alias); err != nil {
			if he, ok := err.(*homeserver.Error); ok && he.Code == homeserver.ErrRoomInUse {
				he.Status = 0 // createRoom answers 400, not 409
			}
			return "", err
		}
		defer s.releaseAlias(alias)
	}
	preset := req.Preset
	if preset == "" {
		preset = presetPrivate
		if req.Visibility == "public" {
			preset = presetPublic
		}
	}
	creator := dev.UserID
	invitees := map[string]bool{}
	var inviteProfiles []memberProfile
	for _, u := range req.Invite {
		if u == creator || invitees[u] {
			continue
		}
		invitees[u] = true
		p, err := s.profileFor(ctx, u)
		if err != nil {
			return "", err
		}
		inviteProfiles = append(inviteProfiles, p)
	}
	me, err := s.profileFor(ctx, creator)
	if err != nil {
		return "", err
	}

	// The create event.
	cc := map[string]json.RawMessage{}
	for k, v := range req.CreationContent {
		cc[k] = v
	}
	cc["room_version"], _ = json.Marshal(verStr)
	if verStr == "10" {
		cc["creator"], _ = json.Marshal(creator)
	}
	createContent, _ := json.Marshal(cc)

	// Power levels: defaults, invitees of a trusted chat, then the override.
	users := map[string]int64{}
	if !ver.PrivilegedCreators() {
		users[creator] = 100
	}
	if preset == presetTrusted {
		for u := range invitees {
			users[u] = 100
		}
	}
	pl := map[string]any{
		"users": users, "users_default": 0, "events_default": 0, "state_default": 50,
		"ban": 50, "kick": 50, "redact": 50, "invite": 0,
		"events": map[string]int64{
			"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
			"m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
			"m.room.server_acl": 100, "m.room.encryption": 100, "m.room.topic": 50,
		},
		"notifications": map[string]int64{"room": 50},
	}
	if preset == presetPublic {
		pl["invite"] = 50
	}
	for k, v := range req.PowerLevelContentOverride {
		pl[k] = v
	}
	plContent, err := json.Marshal(pl)
	if err != nil {
		return "", homeserver.Errorf(homeserver.ErrBadJSON, "Bad power_level_content_override")
	}

	// Preset state, then initial_state overriding it, then name and topic.
	type st struct {
		typ, key string
		content  json.RawMessage
	}
	var ordered []st
	set := func(typ, key string, content json.RawMessage) {
		for i := range ordered {
			if ordered[i].typ == typ && ordered[i].key == key {
				ordered[i].content = content
				return
			}
		}
		ordered = append(ordered, st{typ, key, content})
	}
	if alias != "" {
		set(spec.MRoomCanonicalAlias, "", mustJSON(map[string]string{"alias": alias}))
	}
	joinRule := "invite"
	if preset == presetPublic {
		joinRule = "public"
	}
	set(spec.MRoomJoinRules, "", mustJSON(map[string]string{"join_rule": joinRule}))
	set(spec.MRoomHistoryVisibility, "", mustJSON(map[string]string{"history_visibility": "shared"}))
	if preset != presetPublic {
		set(spec.MRoomGuestAccess, "", mustJSON(map[string]string{"guest_access": "can_join"}))
	}
	for _, is := range req.InitialState {
		set(is.Type, is.StateKey, is.Content)
	}
	if req.Name != "" {
		set(spec.MRoomName, "", mustJSON(map[string]string{"name": req.Name}))
	}
	if req.Topic != "" {
		// m.topic is the spec's (v1.15) TextContentBlock: {"m.text": [...]}.
		set(spec.MRoomTopic, "", mustJSON(map[string]any{"topic": req.Topic,
			"m.topic": map[string]any{"m.text": []map[string]string{{"mimetype": "text/plain", "body": req.Topic}}}}))
	}

	steps := []proto{
		{Sender: creator, Type: spec.MRoomCreate, StateKey: strPtr(""), Content: createContent},
		{Sender: creator, Type: spec.MRoomMember, StateKey: strPtr(creator), Content: me.content("join", false)},
		{Sender: creator, Type: spec.MRoomPowerLevels, StateKey: strPtr(""), Content: plContent},
	}
	for _, o := range ordered {
		steps = append(steps, proto{Sender: creator, Type: o.typ, StateKey: strPtr(o.key), Content: o.content})
	}
	for _, p := range inviteProfiles {
		steps = append(steps, proto{Sender: creator, Type: spec.MRoomMember, StateKey: strPtr(p.userID), Content: p.content("invite", req.IsDirect)})
	}
	return s.createWith(ctx, ver, req.Visibility == "public", alias, steps)
}

// createWith builds a new room from steps (the first is its m.room.create
// event), optionally with a local alias, writes it in one batch and
// returns its ID once every event is durable.
func (s *Service) createWith(ctx context.Context, ver gmsl.IRoomVersion, published bool, alias string, steps []proto) (string, error) {
	r := &room{nid: s.nextRoom.Add(1), ver: ver, state: stateMap{}, cur: stateMap{}, published: published}
	if !ver.DomainlessRoomIDs() {
		r.id = "!" + randomString(18) + ":" + s.id.ServerName
	}
	r.mu.Lock()
	locked := true
	defer func() {
		if locked {
			r.mu.Unlock()
		}
	}()
	b := &storage.Batch{}
	var evs []*Event
	fail := func(err error) (string, error) {
		if len(b.Types)+len(b.StateKeys) > 0 {
			s.commit.submit(&storage.Batch{Types: b.Types, StateKeys: b.StateKeys}, nil)
		}
		return "", err
	}
	for i, p := range steps {
		e, err := s.buildLocked(r, p, b)
		if err != nil {
			return fail(err)
		}
		evs = append(evs, e)
		if i == 0 && alias != "" {
			// Written with the events: a room and its alias appear together.
			b.Aliases = append(b.Aliases, storage.Alias{Alias: alias, RoomID: r.id, Creator: p.Sender})
		}
	}
	s.roomsMu.Lock()
	s.rooms[r.id] = r
	s.roomsMu.Unlock()
	done := s.submitLocked(r, b, evs, nil)
	r.mu.Unlock()
	locked = false
	if err := wait(ctx, done); err != nil {
		return fail(err)
	}
	return r.id, nil
}

// memberProfile is what a membership event says about its user.
type memberProfile struct {
	userID, displayName, avatarURL string
}

func (p memberProfile) content(membership string, isDirect bool) json.RawMessage {
	c := map[string]any{"membership": membership}
	if p.displayName != "" {
		c["displayname"] = p.displayName
	}
	if p.avatarURL != "" {
		c["avatar_url"] = p.avatarURL
	}
	if isDirect {
		c["is_direct"] = true
	}
	return mustJSON(c)
}

// profileFor looks up a user for a membership event: a local user must
// exist; remote users cannot be reached without federation.
func (s *Service) profileFor(ctx context.Context, userID string) (memberProfile, error) {
	u, err := parseUserID(userID)
	if err != nil {
		return memberProfile{}, err
	}
	if !s.isLocal(u) {
		return memberProfile{}, homeserver.Errorf(homeserver.ErrForbidden, "Cannot reach remote user %s: federation is not available", userID)
	}
	p := memberProfile{userID: userID}
	if s.profiles == nil {
		return p, nil
	}
	p.displayName, p.avatarURL, err = s.profiles.Profile(ctx, userID)
	if err != nil {
		var he *homeserver.Error
		if errors.As(err, &he) && he.Code == homeserver.ErrNotFound {
			return p, homeserver.Errorf(homeserver.ErrNotFound, "Unknown user %s", userID)
		}
		return p, fmt.Errorf("profile of %s: %w", userID, err)
	}
	return p, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
