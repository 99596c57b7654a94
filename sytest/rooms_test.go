package sytest

import (
	"net/url"
	"strings"
	"testing"
)

// state fetches the content of one state event.
func (cl *Client) state(roomID, typ, key string) map[string]any {
	return cl.Must("GET", cs("/rooms/%s/state/%s/", roomID, typ)+escapeSegment(key), nil)
}

// membership is a user's current membership in a room, via /state.
func (cl *Client) membership(roomID, userID string) string {
	r := cl.Do("GET", cs("/rooms/%s/state/m.room.member/%s", roomID, userID), nil)
	if r.Status != 200 {
		return ""
	}
	return str(r.JSON, "membership")
}

func (cl *Client) joinedRooms() []any {
	j := cl.Must("GET", cs("/joined_rooms"), nil)
	l, _ := j["joined_rooms"].([]any)
	return l
}

func TestRooms(t *testing.T) {
	t.Parallel()
	run(t, "CreateBasic", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		if !contains(u.joinedRooms(), room) {
			c.Errorf("creator not joined to %s", room)
		}
		cr := u.state(room, "m.room.create", "")
		if cr["room_version"] == nil {
			c.Logf("m.room.create has no room_version (means v1): %v", cr)
		}
		if m := u.membership(room, u.UserID); m != "join" {
			c.Errorf("creator membership %q", m)
		}
	})
	for _, tc := range []struct{ preset, joinRule string }{
		{"private_chat", "invite"}, {"public_chat", "public"}, {"trusted_private_chat", "invite"},
	} {
		run(t, "Preset_"+tc.preset, func(c *T) {
			u := c.user()
			room := u.createRoom(map[string]any{"preset": tc.preset})
			if jr := u.state(room, "m.room.join_rules", "")["join_rule"]; jr != tc.joinRule {
				c.Errorf("join_rule %v, want %s", jr, tc.joinRule)
			}
			hv := u.state(room, "m.room.history_visibility", "")["history_visibility"]
			if hv != "shared" {
				c.Errorf("history_visibility %v, want shared", hv)
			}
		})
	}
	run(t, "VisibilityPublicDefaultsToPublicChat", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"visibility": "public"})
		if jr := u.state(room, "m.room.join_rules", "")["join_rule"]; jr != "public" {
			c.Errorf("join_rule %v, want public", jr)
		}
	})
	run(t, "NameAndTopic", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"name": "Sytest Room", "topic": "a topic"})
		if n := u.state(room, "m.room.name", "")["name"]; n != "Sytest Room" {
			c.Errorf("name %v", n)
		}
		if tp := u.state(room, "m.room.topic", "")["topic"]; tp != "a topic" {
			c.Errorf("topic %v", tp)
		}
	})
	run(t, "Alias", func(c *T) {
		u := c.user()
		local := uniq("alias")
		room := u.createRoom(map[string]any{"room_alias_name": local})
		alias := "#" + local + ":" + c.server()
		j := u.Must("GET", cs("/directory/room/%s", alias), nil)
		if j["room_id"] != room {
			c.Errorf("alias resolves to %v, want %s", j["room_id"], room)
		}
		if ca := u.state(room, "m.room.canonical_alias", "")["alias"]; ca != alias {
			c.Errorf("canonical alias %v, want %s", ca, alias)
		}
	})
	run(t, "AliasInUse", func(c *T) {
		u := c.user()
		local := uniq("alias")
		u.createRoom(map[string]any{"room_alias_name": local})
		u.MustErr("POST", cs("/createRoom"), map[string]any{"room_alias_name": local}, 400, "M_ROOM_IN_USE")
	})
	run(t, "InitialState", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"initial_state": []any{
			map[string]any{"type": "org.scop.sytest", "state_key": "k", "content": map[string]any{"v": 1}},
			map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}},
		}})
		if v := u.state(room, "org.scop.sytest", "k")["v"]; v != float64(1) {
			c.Errorf("custom initial state v=%v", v)
		}
		if g := u.state(room, "m.room.guest_access", "")["guest_access"]; g != "can_join" {
			c.Errorf("guest_access %v", g)
		}
	})
	run(t, "Invite", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"invite": []string{b.UserID}})
		if m := a.membership(room, b.UserID); m != "invite" {
			c.Errorf("invitee membership %q", m)
		}
		b.join(room)
	})
	run(t, "PowerLevelOverride", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"power_level_content_override": map[string]any{"events_default": 42}})
		pl := u.state(room, "m.room.power_levels", "")
		if pl["events_default"] != float64(42) {
			c.Errorf("events_default %v, want 42", pl["events_default"])
		}
		if pl["state_default"] != float64(50) {
			c.Errorf("state_default %v, want the default 50", pl["state_default"])
		}
	})
	run(t, "CreationContent", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"creation_content": map[string]any{"m.federate": false}})
		if f := u.state(room, "m.room.create", "")["m.federate"]; f != false {
			c.Errorf("m.federate %v, want false", f)
		}
	})
	for _, v := range []string{"10", "11", "12"} {
		run(t, "RoomVersion"+v, func(c *T) {
			u := c.user()
			room := u.createRoom(map[string]any{"room_version": v, "preset": "public_chat", "name": "v" + v})
			if rv := u.state(room, "m.room.create", "")["room_version"]; rv != v {
				c.Errorf("room_version %v, want %s", rv, v)
			}
			// The room works: another user joins and talks.
			b := c.user()
			b.join(room)
			b.send(room, "hello in v"+v)
			if v == "12" && strings.Contains(room, ":") {
				c.Errorf("v12 room ID %s has a server part", room)
			}
		})
	}
	run(t, "UnsupportedVersion", func(c *T) {
		c.user().MustErr("POST", cs("/createRoom"), map[string]any{"room_version": "bogus-99"}, 400, "M_UNSUPPORTED_ROOM_VERSION")
	})
	run(t, "CreatorIsAdmin", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"room_version": "10"})
		pl := u.state(room, "m.room.power_levels", "")
		if get(pl, "users", u.UserID) != float64(100) {
			c.Errorf("creator power level %v, want 100", get(pl, "users", u.UserID))
		}
	})
	run(t, "JoinedRooms", func(c *T) {
		u := c.user()
		r1, r2 := u.createRoom(nil), u.createRoom(nil)
		l := u.joinedRooms()
		if !contains(l, r1) || !contains(l, r2) {
			c.Errorf("joined_rooms %v lacks %s or %s", l, r1, r2)
		}
	})
}

func TestMembership(t *testing.T) {
	t.Parallel()
	run(t, "JoinByID", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		j := b.Must("POST", cs("/join/%s", room), map[string]any{})
		if j["room_id"] != room {
			c.Errorf("join answered room_id %v", j["room_id"])
		}
		if m := a.membership(room, b.UserID); m != "join" {
			c.Errorf("membership %q", m)
		}
	})
	run(t, "JoinByAlias", func(c *T) {
		a, b := c.user(), c.user()
		local := uniq("jalias")
		room := a.createRoom(map[string]any{"preset": "public_chat", "room_alias_name": local})
		j := b.Must("POST", cs("/join/%s", "#"+local+":"+c.server()), map[string]any{})
		if j["room_id"] != room {
			c.Errorf("join by alias answered %v, want %s", j["room_id"], room)
		}
		if !contains(b.joinedRooms(), room) {
			c.Errorf("not joined")
		}
	})
	run(t, "JoinViaRoomsPath", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.Must("POST", cs("/rooms/%s/join", room), map[string]any{})
		if m := a.membership(room, b.UserID); m != "join" {
			c.Errorf("membership %q", m)
		}
	})
	run(t, "JoinInviteOnlyForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "JoinUnknownAlias", func(c *T) {
		u := c.user()
		u.MustErr("POST", cs("/join/%s", "#"+uniq("nope")+":"+c.server()), map[string]any{}, 404, "M_NOT_FOUND")
	})
	run(t, "Leave", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		if m := a.membership(room, b.UserID); m != "leave" {
			c.Errorf("membership %q", m)
		}
		if contains(b.joinedRooms(), room) {
			c.Errorf("still in joined_rooms")
		}
	})
	run(t, "InviteThenJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		if m := a.membership(room, b.UserID); m != "invite" {
			c.Errorf("membership %q", m)
		}
		b.join(room)
		if m := a.membership(room, b.UserID); m != "join" {
			c.Errorf("membership after join %q", m)
		}
	})
	run(t, "InviteRejectByLeave", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat", "invite": []string{b.UserID}})
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		if m := a.membership(room, b.UserID); m != "leave" {
			c.Errorf("membership %q", m)
		}
	})
	run(t, "InviteByNonMemberForbidden", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		x.MustErr("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID}, 403, "M_FORBIDDEN")
	})
	run(t, "Kick", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": b.UserID, "reason": "testing"})
		m := a.state(room, "m.room.member", b.UserID)
		if m["membership"] != "leave" || m["reason"] != "testing" {
			c.Errorf("member after kick %v", m)
		}
	})
	run(t, "KickWithoutPowerForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.MustErr("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": a.UserID}, 403, "M_FORBIDDEN")
	})
	run(t, "BanAndUnban", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": b.UserID, "reason": "spam"})
		if m := a.membership(room, b.UserID); m != "ban" {
			c.Errorf("membership after ban %q", m)
		}
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		a.Must("POST", cs("/rooms/%s/unban", room), map[string]any{"user_id": b.UserID})
		if m := a.membership(room, b.UserID); m != "leave" {
			c.Errorf("membership after unban %q", m)
		}
		b.join(room)
	})
	run(t, "BanNonMember", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": b.UserID})
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "BanWithoutPowerForbidden", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		x.join(room)
		b.MustErr("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": x.UserID}, 403, "M_FORBIDDEN")
	})
	run(t, "Forget", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		withLeave := "filter=" + url.QueryEscape(`{"room":{"include_leave":true}}`)
		if _, ok := b.sync(withLeave).Rooms.Leave[room]; !ok {
			c.Errorf("left room not in rooms.leave of an include_leave initial sync")
		}
		b.Must("POST", cs("/rooms/%s/forget", room), map[string]any{})
		if _, ok := b.sync(withLeave).Rooms.Leave[room]; ok {
			c.Errorf("forgotten room still in rooms.leave of an include_leave initial sync")
		}
	})
	run(t, "ForgetWhileJoined", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("POST", cs("/rooms/%s/forget", room), map[string]any{}, 400, "")
	})
	run(t, "Members", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		j := a.Must("GET", cs("/rooms/%s/members", room), nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		for _, id := range []string{a.UserID, b.UserID} {
			e := chunk.find("m.room.member", sp(id))
			if e == nil || e.Content["membership"] != "join" {
				c.Errorf("members lacks joined %s: %v", id, j)
			}
		}
	})
	run(t, "MembersFilterMembership", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		x.join(room)
		x.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		j := a.Must("GET", cs("/rooms/%s/members", room)+"?membership=join", nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		if len(chunk) != 2 || chunk.find("m.room.member", sp(x.UserID)) != nil {
			c.Errorf("membership=join gave %d events: %v", len(chunk), j)
		}
	})
	run(t, "MembersNonMemberForbidden", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		x.MustErr("GET", cs("/rooms/%s/members", room), nil, 403, "M_FORBIDDEN")
	})
	run(t, "JoinedMembers", func(c *T) {
		a, b := c.user(), c.user()
		b.Must("PUT", cs("/profile/%s/displayname", b.UserID), map[string]any{"displayname": "Bee"})
		room := a.publicRoom()
		b.join(room)
		j := a.Must("GET", cs("/rooms/%s/joined_members", room), nil)
		joined, _ := j["joined"].(map[string]any)
		if len(joined) != 2 || joined[a.UserID] == nil {
			c.Errorf("joined %v", j)
		}
		if dn := str(joined, b.UserID, "display_name"); dn != "Bee" {
			c.Errorf("display_name of b %q", dn)
		}
	})
}
