package sytest

import (
	"net/url"
	"testing"
)

// TestHistoryVisibility checks that members see only what the room's
// history visibility and their membership allow.
func TestHistoryVisibility(t *testing.T) {
	t.Parallel()
	roomWith := func(cl *Client, vis string) string {
		return cl.createRoom(map[string]any{"preset": "public_chat", "initial_state": []any{map[string]any{
			"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": vis}}}})
	}
	run(t, "JoinedHidesEarlierMessages", func(c *T) {
		a, b := c.user(), c.user()
		room := roomWith(a, "joined")
		secret := a.send(room, "before b joined")
		b.join(room)
		after := a.send(room, "after b joined")
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if chunk.has(secret) {
			c.Errorf("history_visibility joined: /messages shows a message from before the join")
		}
		if !chunk.has(after) {
			c.Errorf("/messages lacks a message sent after the join")
		}
		r := b.Do("GET", cs("/rooms/%s/event/%s", room, secret), nil)
		if r.Status != 404 && r.Status != 403 {
			c.Errorf("/event of an invisible event: want 403 or 404: %s", r)
		}
		if b.sync("").Rooms.Join[room].Timeline.Events.has(secret) {
			c.Errorf("initial sync shows a message from before the join")
		}
	})
	run(t, "SharedShowsEarlierMessages", func(c *T) {
		a, b := c.user(), c.user()
		room := roomWith(a, "shared")
		early := a.send(room, "before b joined")
		b.join(room)
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if !chunk.has(early) {
			c.Errorf("history_visibility shared: /messages hides a message from before the join")
		}
	})
	run(t, "LeftUserSeesNothingAfter", func(c *T) {
		a, b := c.user(), c.user()
		room := roomWith(a, "shared")
		b.join(room)
		before := a.send(room, "while b was here")
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		later := a.send(room, "after b left")
		r := b.Do("GET", cs("/rooms/%s/messages", room)+"?dir=b&limit=50", nil)
		if r.Status == 200 {
			var chunk Events
			decode(c, r.JSON["chunk"], &chunk)
			if chunk.has(later) {
				c.Errorf("a user who left sees a later message in /messages")
			}
			if !chunk.has(before) {
				c.Logf("note: messages from the user's membership period hidden after leaving")
			}
		} else if r.Status != 403 {
			c.Errorf("want 200 (history up to the leave) or 403: %s", r)
		}
		er := b.Do("GET", cs("/rooms/%s/event/%s", room, later), nil)
		if er.Status != 403 && er.Status != 404 {
			c.Errorf("/event after leaving: want 403 or 404: %s", er)
		}
		cr := b.Do("GET", cs("/rooms/%s/context/%s", room, later), nil)
		if cr.Status != 403 && cr.Status != 404 {
			c.Errorf("/context after leaving: want 403 or 404: %s", cr)
		}
	})
	run(t, "KickedUserSyncStops", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": b.UserID})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, ok := s.Rooms.Leave[room]; return ok })
		later := a.send(room, "after the kick")
		s2 := b.sync(url.Values{"since": {s.NextBatch}, "timeout": {"500"}}.Encode())
		if s2.Rooms.Join[room].Timeline.Events.has(later) || s2.Rooms.Leave[room].Timeline.Events.has(later) {
			c.Errorf("kicked user's sync shows a later message")
		}
	})
	run(t, "InviteStateOnlyForInvitee", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat", "invite": []string{b.UserID}})
		a.send(room, "private")
		if _, ok := x.sync("").Rooms.Invite[room]; ok {
			c.Errorf("uninvited user sees the invite")
		}
		r := b.Do("GET", cs("/rooms/%s/messages", room)+"?dir=b", nil)
		if r.Status == 200 {
			var chunk Events
			decode(c, r.JSON["chunk"], &chunk)
			if len(bodies(chunk)) > 0 {
				c.Errorf("an invitee reads messages of a shared-history room before joining")
			}
		}
	})
}

func TestRooms_More(t *testing.T) {
	t.Parallel()
	run(t, "DefaultVersionMatchesCapabilities", func(c *T) {
		u := c.user()
		def := str(u.Must("GET", cs("/capabilities"), nil), "capabilities", "m.room_versions", "default")
		room := u.createRoom(nil)
		rv, _ := u.state(room, "m.room.create", "")["room_version"].(string)
		if rv != def {
			c.Errorf("new room version %q, capabilities default %q", rv, def)
		}
	})
	run(t, "CreateEventImmutable", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		// Auth rules reject a second create event; servers differ on 400 vs 403.
		u.MustErr("PUT", cs("/rooms/%s/state/m.room.create/", room), map[string]any{"room_version": "1"}, 4, "")
	})
	run(t, "BadPowerLevelsContent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("PUT", cs("/rooms/%s/state/m.room.power_levels/", room), map[string]any{"users_default": "lots"}, 400, "")
	})
	run(t, "CanonicalAliasMustPointToRoom", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("PUT", cs("/rooms/%s/state/m.room.canonical_alias/", room),
			map[string]any{"alias": "#" + uniq("nowhere") + ":" + c.server()}, 400, "M_BAD_ALIAS")
	})
	run(t, "PerRoomDisplayname", func(c *T) {
		u := c.user()
		u.Must("PUT", cs("/profile/%s/displayname", u.UserID), map[string]any{"displayname": "Global"})
		room := u.createRoom(nil)
		u.setState(room, "m.room.member", u.UserID, map[string]any{"membership": "join", "displayname": "Local nick"})
		if dn := u.state(room, "m.room.member", u.UserID)["displayname"]; dn != "Local nick" {
			c.Errorf("room displayname %v", dn)
		}
		if dn := u.Must("GET", cs("/profile/%s/displayname", u.UserID), nil)["displayname"]; dn != "Global" {
			c.Errorf("per-room nick changed the global profile to %v", dn)
		}
	})
	run(t, "EventFormat", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "fmt")
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"1"}})
		if len(chunk) != 1 {
			c.Fatalf("want 1 event, got %d", len(chunk))
		}
		e := chunk[0]
		if e.EventID != id || e.RoomID != room || e.Sender != u.UserID || e.OriginServerTS <= 0 || e.Type != "m.room.message" {
			c.Errorf("client-format event fields: %+v", e)
		}
		if e.StateKey != nil {
			c.Errorf("message event has a state_key")
		}
	})
}

func TestSync_Wakeups(t *testing.T) {
	t.Parallel()
	// longPoll starts a 20s sync from since and returns a channel with it.
	longPoll := func(cl *Client, since string) <-chan *Sync {
		ch := make(chan *Sync, 1)
		go func() {
			defer close(ch)
			ch <- cl.sync(url.Values{"since": {since}, "timeout": {"20000"}}.Encode())
		}()
		return ch
	}
	run(t, "WokenByInvite", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		ch := longPoll(b, b.sync("").NextBatch)
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		s := <-ch
		if s == nil {
			c.Fatalf("sync failed")
		}
		if _, ok := s.Rooms.Invite[room]; !ok {
			c.Errorf("long poll returned without the invite")
		}
	})
	run(t, "WokenByAccountData", func(c *T) {
		u := c.user()
		o := u.login()
		ch := longPoll(u, u.sync("").NextBatch)
		o.Must("PUT", cs("/user/%s/account_data/org.scop.wake", u.UserID), map[string]any{"x": 1})
		s := <-ch
		if s == nil {
			c.Fatalf("sync failed")
		}
		if s.AccountData.Events.find("org.scop.wake", nil) == nil {
			c.Errorf("long poll returned without the account data")
		}
	})
	run(t, "WokenByOthersJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		ch := longPoll(a, a.sync("").NextBatch)
		b.join(room)
		s := <-ch
		if s == nil {
			c.Fatalf("sync failed")
		}
		if s.Rooms.Join[room].Timeline.Events.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("long poll returned without b's join")
		}
	})
	run(t, "InviteThenJoinMovesSections", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat", "invite": []string{b.UserID}})
		s := b.syncUntil("", "", func(s *Sync) bool { _, ok := s.Rooms.Invite[room]; return ok })
		b.join(room)
		s = b.syncUntil(s.NextBatch, "", func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		if _, ok := s.Rooms.Invite[room]; ok {
			c.Errorf("room in both invite and join sections")
		}
		if _, ok := b.sync("").Rooms.Invite[room]; ok {
			c.Errorf("initial sync still lists the accepted invite")
		}
	})
	run(t, "ElementStyleFilter", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "hi")
		f := `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":20,"unread_thread_notifications":true}},"presence":{"not_types":["*"]}}`
		id := str(u.Must("POST", cs("/user/%s/filter", u.UserID), f), "filter_id")
		s := u.sync(url.Values{"filter": {id}, "set_presence": {"online"}, "timeout": {"0"}}.Encode())
		jr, ok := s.Rooms.Join[room]
		if !ok {
			c.Fatalf("room missing")
		}
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		if all.find("m.room.member", sp(u.UserID)) == nil {
			c.Errorf("lazy-loaded sync lacks the sender's member event")
		}
	})
}

func TestRooms_V12(t *testing.T) {
	t.Parallel()
	run(t, "CreatorNotInPowerLevelUsers", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"room_version": "12"})
		if get(u.state(room, "m.room.power_levels", ""), "users", u.UserID) != nil {
			c.Errorf("v12 creator listed in power_levels users")
		}
		// Still all-powerful: can change anything.
		u.setState(room, "m.room.power_levels", "", map[string]any{"users_default": 0, "state_default": 100, "events_default": 100})
		u.setState(room, "m.room.name", "", map[string]any{"name": "creator can"})
	})
	run(t, "AdditionalCreators", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"room_version": "12", "preset": "public_chat",
			"creation_content": map[string]any{"additional_creators": []string{b.UserID}}})
		b.join(room)
		b.setState(room, "m.room.name", "", map[string]any{"name": "additional creator can"})
	})
	run(t, "CreatorCannotBeKicked", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"room_version": "12", "preset": "public_chat"})
		b.join(room)
		pl := a.state(room, "m.room.power_levels", "")
		users, _ := pl["users"].(map[string]any)
		if users == nil {
			users = map[string]any{}
			pl["users"] = users
		}
		users[b.UserID] = 100
		a.setState(room, "m.room.power_levels", "", pl)
		b.MustErr("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": a.UserID}, 403, "M_FORBIDDEN")
	})
}
