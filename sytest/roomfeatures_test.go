package sytest

import (
	"encoding/json"
	"net/url"
	"testing"
)

// knockRoom creates a room of the given version whose join rule is rule.
func knockRoom(a *Client, version, rule string, allow []any) string {
	content := map[string]any{"join_rule": rule}
	if allow != nil {
		content["allow"] = allow
	}
	return a.createRoom(map[string]any{"room_version": version, "initial_state": []any{map[string]any{
		"type": "m.room.join_rules", "state_key": "", "content": content}}})
}

// knockSection returns rooms.knock of a sync response (raw decode: the
// shared Sync type has no knock section).
func knockSection(cl *Client, query string) map[string]any {
	path := cs("/sync")
	if query != "" {
		path += "?" + query
	}
	r := cl.Do("GET", path, nil)
	var s struct {
		Rooms struct {
			Knock map[string]any `json:"knock"`
		} `json:"rooms"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &s) != nil {
		cl.c.Fatalf("sync: %s", r)
	}
	return s.Rooms.Knock
}

func TestMembership_Knock(t *testing.T) {
	t.Parallel()
	run(t, "NotKnockableRoomForbidden", func(c *T) {
		a, b := c.user(), c.user()
		for _, room := range []string{a.publicRoom(), a.createRoom(map[string]any{"preset": "private_chat"})} {
			b.MustErr("POST", cs("/knock/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		}
	})
	run(t, "UnknownOrInvalidRoom", func(c *T) {
		b := c.user()
		b.MustErr("POST", cs("/knock/%s", "!nope:"+c.server()), map[string]any{}, 404, "M_NOT_FOUND")
		b.MustErr("POST", cs("/knock/%s", "#nope"+uniq("a")+":"+c.server()), map[string]any{}, 404, "M_NOT_FOUND")
		b.MustErr("POST", cs("/knock/%s", "not-a-room"), map[string]any{}, 400, "M_INVALID_PARAM")
	})
	run(t, "MalformedBody", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "11", "knock", nil)
		r := b.Do("POST", cs("/knock/%s", room), []any{1})
		c.wantErr(r, 400, "M_BAD_JSON")
	})
	run(t, "KnockInSyncAndRoom", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "12", "knock", nil)
		j := b.Must("POST", cs("/knock/%s", room), map[string]any{"reason": "hello"})
		if str(j, "room_id") != room {
			c.Errorf("knock response %v", j)
		}
		m := a.state(room, "m.room.member", b.UserID)
		if m["membership"] != "knock" || m["reason"] != "hello" {
			c.Errorf("knock member event %v", m)
		}
		k := knockSection(b, "")
		evs, _ := get(k, room, "knock_state", "events").([]any)
		found := false
		for _, e := range evs {
			found = found || (str(e, "type") == "m.room.member" && str(e, "state_key") == b.UserID && str(e, "content", "membership") == "knock")
		}
		if !found {
			c.Errorf("rooms.knock[%s] lacks the knock: %v", room, k)
		}
		// The member cannot see the room's state while only knocking.
		b.MustErr("GET", cs("/rooms/%s/state", room), nil, 403, "M_FORBIDDEN")
	})
	run(t, "IncrementalSyncThenInvite", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "11", "knock", nil)
		since := b.sync("").NextBatch
		b.Must("POST", cs("/knock/%s", room), map[string]any{})
		if k := knockSection(b, url.Values{"since": {since}}.Encode()); k[room] == nil {
			c.Errorf("incremental sync after the knock lacks rooms.knock[%s]: %v", room, k)
		}
		since = b.sync("").NextBatch
		if k := knockSection(b, url.Values{"since": {since}}.Encode()); k[room] != nil {
			c.Errorf("unchanged knock repeated in an incremental sync: %v", k)
		}
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, ok := s.Rooms.Invite[room]; return ok })
		if k := knockSection(b, url.Values{"since": {since}}.Encode()); k[room] != nil {
			c.Errorf("invited room still under rooms.knock: %v (invite seen at %s)", k, s.NextBatch)
		}
	})
	run(t, "RescindAndKnockAgain", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "10", "knock", nil)
		b.Must("POST", cs("/knock/%s", room), map[string]any{})
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		if m := a.membership(room, b.UserID); m != "leave" {
			c.Errorf("membership after rescinding %q", m)
		}
		b.Must("POST", cs("/knock/%s", room), map[string]any{})
		if m := a.membership(room, b.UserID); m != "knock" {
			c.Errorf("membership after knocking again %q", m)
		}
	})
	run(t, "KickDeniesKnock", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "11", "knock", nil)
		b.Must("POST", cs("/knock/%s", room), map[string]any{})
		a.Must("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": b.UserID, "reason": "no"})
		if m := a.membership(room, b.UserID); m != "leave" {
			c.Errorf("membership after kick %q", m)
		}
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "JoinedOrBannedCannotKnock", func(c *T) {
		a, b := c.user(), c.user()
		room := knockRoom(a, "11", "knock", nil)
		a.MustErr("POST", cs("/knock/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": b.UserID})
		b.MustErr("POST", cs("/knock/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "KnockRestricted", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		space := a.publicRoom()
		b.join(space)
		room := knockRoom(a, "10", "knock_restricted", []any{map[string]any{"type": "m.room_membership", "room_id": space}})
		b.join(room)
		x.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		x.Must("POST", cs("/knock/%s", room), map[string]any{})
		if m := a.membership(room, x.UserID); m != "knock" {
			c.Errorf("knock on knock_restricted: %q", m)
		}
	})
}

func TestMembership_Restricted(t *testing.T) {
	t.Parallel()
	run(t, "NotInAllowedRoomForbidden", func(c *T) {
		a, x := c.user(), c.user()
		space := a.createRoom(map[string]any{"preset": "private_chat"})
		room := knockRoom(a, "11", "restricted", []any{map[string]any{"type": "m.room_membership", "room_id": space}})
		x.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		x.MustErr("POST", cs("/rooms/%s/join", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "LeftAllowedRoomForbidden", func(c *T) {
		a, b := c.user(), c.user()
		space := a.publicRoom()
		b.join(space)
		b.Must("POST", cs("/rooms/%s/leave", space), map[string]any{})
		room := knockRoom(a, "12", "restricted", []any{map[string]any{"type": "m.room_membership", "room_id": space}})
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "InvitedJoinsWithoutAuthoriser", func(c *T) {
		a, b := c.user(), c.user()
		space := a.createRoom(map[string]any{"preset": "private_chat"})
		room := knockRoom(a, "11", "restricted", []any{map[string]any{"type": "m.room_membership", "room_id": space}})
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		b.join(room)
		if m := a.state(room, "m.room.member", b.UserID); m["membership"] != "join" || m["join_authorised_via_users_server"] != nil {
			c.Errorf("invited join event %v", m)
		}
	})
	run(t, "AuthoriserMayInvite", func(c *T) {
		a, b, mod := c.user(), c.user(), c.user()
		space := a.publicRoom()
		b.join(space)
		room := a.createRoom(map[string]any{"room_version": "11", "preset": "public_chat"})
		mod.join(room)
		a.setState(room, "m.room.join_rules", "", map[string]any{"join_rule": "restricted",
			"allow": []any{map[string]any{"type": "m.room_membership", "room_id": space}}})
		b.join(room)
		m := a.state(room, "m.room.member", b.UserID)
		// mod has power 0 and invite needs 50 in a public_chat room.
		if via := str(m, "join_authorised_via_users_server"); via != a.UserID {
			c.Errorf("join authorised via %q, want %s", via, a.UserID)
		}
	})
}

// hierarchyRooms lists the room IDs of one hierarchy page.
func hierarchyRooms(j map[string]any) []string {
	var ids []string
	rooms, _ := j["rooms"].([]any)
	for _, r := range rooms {
		ids = append(ids, str(r, "room_id"))
	}
	return ids
}

func hierarchyPath(room string, q url.Values) string {
	path := "/_matrix/client/v1" + p("/rooms/%s/hierarchy", room)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

func TestRooms_Hierarchy(t *testing.T) {
	t.Parallel()
	space := func(a *Client, name string) string {
		return a.createRoom(map[string]any{"preset": "public_chat", "name": name, "creation_content": map[string]any{"type": "m.space"}})
	}
	addChild := func(c *T, a *Client, parent, child string, extra map[string]any) {
		content := map[string]any{"via": []string{c.server()}}
		for k, v := range extra {
			content[k] = v
		}
		a.setState(parent, "m.space.child", child, content)
	}
	run(t, "InvisibleRoomForbidden", func(c *T) {
		a, x := c.user(), c.user()
		private := a.createRoom(map[string]any{"preset": "private_chat", "creation_content": map[string]any{"type": "m.space"}})
		x.MustErr("GET", hierarchyPath(private, nil), nil, 403, "M_FORBIDDEN")
		x.MustErr("GET", hierarchyPath("!unknown:"+c.server(), nil), nil, 403, "M_FORBIDDEN")
		x.MustErr("GET", hierarchyPath("garbage", nil), nil, 400, "M_INVALID_PARAM")
	})
	run(t, "BadParameters", func(c *T) {
		a := c.user()
		s := space(a, "s")
		for _, q := range []url.Values{{"limit": {"0"}}, {"limit": {"x"}}, {"max_depth": {"-1"}},
			{"suggested_only": {"maybe"}}, {"from": {"bogus"}}} {
			a.MustErr("GET", hierarchyPath(s, q), nil, 400, "M_INVALID_PARAM")
		}
	})
	run(t, "ChildrenStateAndOrder", func(c *T) {
		a, x := c.user(), c.user()
		s := space(a, "s")
		c1 := a.createRoom(map[string]any{"preset": "public_chat", "name": "one"})
		c2 := a.createRoom(map[string]any{"preset": "public_chat", "name": "two"})
		hidden := a.createRoom(map[string]any{"preset": "private_chat"})
		addChild(c, a, s, c1, map[string]any{"order": "b"})
		addChild(c, a, s, c2, map[string]any{"order": "a"})
		addChild(c, a, s, hidden, nil)
		a.setState(s, "m.space.child", "!removed:"+c.server(), map[string]any{})
		j := x.Must("GET", hierarchyPath(s, nil), nil)
		ids := hierarchyRooms(j)
		if len(ids) != 3 || ids[0] != s || ids[1] != c2 || ids[2] != c1 {
			c.Errorf("hierarchy order %v, want [%s %s %s]", ids, s, c2, c1)
		}
		root, _ := j["rooms"].([]any)
		if len(root) == 0 {
			c.Fatalf("no rooms: %v", j)
		}
		if str(root[0], "room_type") != "m.space" || str(root[0], "name") != "s" {
			c.Errorf("root entry %v", root[0])
		}
		kids, _ := get(root[0], "children_state").([]any)
		if len(kids) != 3 {
			c.Errorf("children_state %v: want the 3 children with via", kids)
		}
		for _, e := range kids {
			if str(e, "type") != "m.space.child" || get(e, "origin_server_ts") == nil || str(e, "sender") != a.UserID {
				c.Errorf("children_state entry %v", e)
			}
		}
		if len(root) > 1 {
			if cs2, ok := get(root[1], "children_state").([]any); !ok || len(cs2) != 0 {
				c.Errorf("a plain room's children_state must be []: %v", root[1])
			}
		}
	})
	run(t, "Pagination", func(c *T) {
		a := c.user()
		s := space(a, "s")
		var want []string
		for i := range 3 {
			child := a.publicRoom()
			addChild(c, a, s, child, map[string]any{"order": string(rune('a' + i))})
			want = append(want, child)
		}
		var got []string
		q := url.Values{"limit": {"1"}}
		for range 10 {
			j := a.Must("GET", hierarchyPath(s, q), nil)
			page := hierarchyRooms(j)
			if len(page) != 1 {
				c.Fatalf("page of %d rooms with limit=1: %v", len(page), j)
			}
			got = append(got, page...)
			next := str(j, "next_batch")
			if next == "" {
				break
			}
			q.Set("from", next)
			if len(got) == 1 {
				// A token is bound to suggested_only and max_depth.
				bad := url.Values{"limit": {"1"}, "from": {next}, "suggested_only": {"true"}}
				a.MustErr("GET", hierarchyPath(s, bad), nil, 400, "M_INVALID_PARAM")
			}
		}
		if len(got) != 4 || got[0] != s || got[1] != want[0] || got[2] != want[1] || got[3] != want[2] {
			c.Errorf("paginated %v, want %s then %v", got, s, want)
		}
	})
	run(t, "SuggestedOnlyAndMaxDepth", func(c *T) {
		a := c.user()
		s := space(a, "s")
		sub := space(a, "sub")
		leaf := a.publicRoom()
		plain := a.publicRoom()
		addChild(c, a, s, sub, map[string]any{"suggested": true})
		addChild(c, a, s, plain, nil)
		addChild(c, a, sub, leaf, map[string]any{"suggested": true})
		ids := hierarchyRooms(a.Must("GET", hierarchyPath(s, url.Values{"suggested_only": {"true"}}), nil))
		if len(ids) != 3 || !contains(anyList(ids), sub) || !contains(anyList(ids), leaf) || contains(anyList(ids), plain) {
			c.Errorf("suggested_only %v: want %s, %s, %s", ids, s, sub, leaf)
		}
		ids = hierarchyRooms(a.Must("GET", hierarchyPath(s, url.Values{"max_depth": {"1"}}), nil))
		if len(ids) != 3 || contains(anyList(ids), leaf) {
			c.Errorf("max_depth=1 %v: want the root and its two children", ids)
		}
		ids = hierarchyRooms(a.Must("GET", hierarchyPath(s, url.Values{"max_depth": {"0"}}), nil))
		if len(ids) != 1 || ids[0] != s {
			c.Errorf("max_depth=0 %v: want only the root", ids)
		}
	})
	run(t, "RestrictedChildVisibleToSpaceMember", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		s := space(a, "s")
		b.join(s)
		child := knockRoom(a, "11", "restricted", []any{map[string]any{"type": "m.room_membership", "room_id": s}})
		addChild(c, a, s, child, nil)
		if ids := hierarchyRooms(b.Must("GET", hierarchyPath(s, nil), nil)); !contains(anyList(ids), child) {
			c.Errorf("space member does not see the restricted child: %v", ids)
		}
		if ids := hierarchyRooms(x.Must("GET", hierarchyPath(s, nil), nil)); contains(anyList(ids), child) {
			c.Errorf("outsider sees the restricted child: %v", ids)
		}
	})
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestRooms_UpgradeEdges(t *testing.T) {
	t.Parallel()
	run(t, "UnknownVersion", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"room_version": "11"})
		u.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "999"}, 400, "M_UNSUPPORTED_ROOM_VERSION")
		u.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{}, 400, "M_MISSING_PARAM")
		u.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": 12}, 400, "M_BAD_JSON")
	})
	run(t, "WithoutPowerForbidden", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN")
		x.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN")
		x.MustErr("POST", cs("/rooms/%s/upgrade", "!unknown:"+c.server()), map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN")
	})
	run(t, "StateCarriedAndOldRoomRestricted", func(c *T) {
		a, b, banned := c.user(), c.user(), c.user()
		alias := uniq("up")
		room := a.createRoom(map[string]any{"room_version": "10", "preset": "public_chat", "visibility": "public",
			"name": "old", "topic": "the topic", "room_alias_name": alias})
		b.join(room)
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": banned.UserID, "reason": "spam"})
		j := a.Must("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "11"})
		nr := str(j, "replacement_room")
		if nr == "" {
			c.Fatalf("no replacement_room: %v", j)
		}
		if cr := a.state(nr, "m.room.create", ""); str(cr, "predecessor", "room_id") != room || str(cr, "predecessor", "event_id") == "" {
			c.Errorf("v11 predecessor %v", cr)
		}
		if jr := a.state(nr, "m.room.join_rules", ""); jr["join_rule"] != "public" {
			c.Errorf("join rule %v", jr)
		}
		if tp := a.state(nr, "m.room.topic", ""); tp["topic"] != "the topic" {
			c.Errorf("topic %v", tp)
		}
		if m := a.membership(nr, banned.UserID); m != "ban" {
			c.Errorf("ban not carried over: %q", m)
		}
		full := "#" + alias + ":" + c.server()
		if r := a.Must("GET", cs("/directory/room/%s", full), nil); str(r, "room_id") != nr {
			c.Errorf("alias still points to %v", r)
		}
		if ca := a.state(nr, "m.room.canonical_alias", ""); ca["alias"] != full {
			c.Errorf("new canonical alias %v", ca)
		}
		if v := a.Must("GET", cs("/directory/list/room/%s", room), nil); v["visibility"] != "private" {
			c.Errorf("old room still published: %v", v)
		}
		if v := a.Must("GET", cs("/directory/list/room/%s", nr), nil); v["visibility"] != "public" {
			c.Errorf("new room not published: %v", v)
		}
		// Ordinary members can no longer talk or invite in the old room.
		b.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text", "body": "hi"}, 403, "M_FORBIDDEN")
		if pl := a.state(room, "m.room.power_levels", ""); toInt(pl["events_default"]) < 50 || toInt(pl["invite"]) < 50 {
			c.Errorf("old power levels not restricted: %v", pl)
		}
		b.join(nr)
		b.send(nr, "hello in the new room")
	})
	run(t, "ToVersion12", func(c *T) {
		a := c.user()
		room := a.createRoom(map[string]any{"room_version": "11", "name": "n"})
		j := a.Must("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "12"})
		nr := str(j, "replacement_room")
		cr := a.state(nr, "m.room.create", "")
		if cr["room_version"] != "12" || str(cr, "predecessor", "room_id") != room || cr["creator"] != nil {
			c.Errorf("v12 create %v", cr)
		}
		if pl := a.state(nr, "m.room.power_levels", ""); get(pl, "users", a.UserID) != nil {
			c.Errorf("v12 creator listed in power levels: %v", pl)
		}
		a.setState(nr, "m.room.topic", "", map[string]any{"topic": "creator can still set state"})
		if ts := a.state(room, "m.room.tombstone", ""); ts["replacement_room"] != nr {
			c.Errorf("tombstone %v", ts)
		}
	})
	run(t, "AdditionalCreators", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"room_version": "12", "preset": "public_chat"})
		b.join(room)
		a.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "12", "additional_creators": []string{"nope"}}, 400, "M_INVALID_PARAM")
		a.MustErr("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "11", "additional_creators": []string{b.UserID}}, 400, "M_INVALID_PARAM")
		nr := str(a.Must("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "12", "additional_creators": []string{b.UserID}}), "replacement_room")
		if cr := a.state(nr, "m.room.create", ""); !contains(cr["additional_creators"], b.UserID) {
			c.Errorf("additional_creators not set: %v", cr)
		}
		b.join(nr)
		// As a creator b has unbounded power in the new room.
		b.setState(nr, "m.room.name", "", map[string]any{"name": "renamed by b"})
		// v12 to v12 again: a, a creator of the old room only, keeps top power.
		nr2 := str(b.Must("POST", cs("/rooms/%s/upgrade", nr), map[string]any{"new_version": "12"}), "replacement_room")
		if pl := b.state(nr2, "m.room.power_levels", ""); toInt(get(pl, "users", a.UserID)) < 100 || get(pl, "users", b.UserID) != nil {
			c.Errorf("power levels after v12 upgrade by b: %v", pl)
		}
	})
	run(t, "SpaceKeepsTypeAndChildren", func(c *T) {
		a := c.user()
		s := a.createRoom(map[string]any{"preset": "public_chat", "room_version": "11", "creation_content": map[string]any{"type": "m.space"}})
		child := a.publicRoom()
		a.setState(s, "m.space.child", child, map[string]any{"via": []string{c.server()}})
		nr := str(a.Must("POST", cs("/rooms/%s/upgrade", s), map[string]any{"new_version": "12"}), "replacement_room")
		if cr := a.state(nr, "m.room.create", ""); cr["type"] != "m.space" {
			c.Errorf("room type lost: %v", cr)
		}
		if ids := hierarchyRooms(a.Must("GET", hierarchyPath(nr, nil), nil)); len(ids) != 2 {
			c.Errorf("upgraded space hierarchy %v", ids)
		}
	})
}

func toInt(v any) int {
	f, _ := v.(float64)
	return int(f)
}
