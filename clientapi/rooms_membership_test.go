package clientapi_test

import (
	"testing"
)

func TestMembershipFlow(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	if err := rs.Accounts.SetDisplayName(t.Context(), bob.UserID, "Bobby"); err != nil {
		t.Fatal(err)
	}
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "private_chat"})
	base := "/rooms/" + esc(roomID)

	// Bob cannot join an invite-only room uninvited, nor send into it.
	if st, out := rs.call(t, bob, "POST", base+"/join", nil); st != 403 || out.str("errcode") != "M_FORBIDDEN" {
		t.Errorf("uninvited join: %d %v", st, out)
	}
	if st, out := rs.call(t, bob, "PUT", base+"/send/m.room.message/x1", map[string]any{"body": "x"}); st != 403 || out.str("errcode") != "M_FORBIDDEN" {
		t.Errorf("send by non-member: %d %v", st, out)
	}

	bobSync := rs.sync(t, bob, "")
	rs.must(t, alice, "POST", base+"/invite", map[string]any{"user_id": bob.UserID})
	s := rs.sync(t, bob, "timeout=0&since="+bobSync.NextBatch)
	inv, ok := s.Rooms.Invite[roomID]
	if !ok {
		t.Fatalf("invite missing from bob's sync: %+v", s.Rooms)
	}
	if m := findEvent(inv.InviteState.Events, "m.room.member"); m == nil || m.Content["membership"] != "invite" {
		t.Errorf("invite_state lacks the invite: %+v", inv.InviteState.Events)
	}

	rs.must(t, bob, "POST", "/join/"+esc(roomID), map[string]any{})
	s = rs.sync(t, bob, "timeout=0&since="+s.NextBatch)
	if _, ok := s.Rooms.Join[roomID]; !ok {
		t.Fatalf("joined room missing: %+v", s.Rooms)
	}
	joined := rs.must(t, alice, "GET", base+"/joined_members", nil)["joined"].(map[string]any)
	if len(joined) != 2 {
		t.Errorf("joined_members %v", joined)
	}
	jr := rs.must(t, bob, "GET", "/joined_rooms", nil)["joined_rooms"].([]any)
	if len(jr) != 1 || jr[0] != roomID {
		t.Errorf("joined_rooms %v", jr)
	}
	members := rs.must(t, alice, "GET", base+"/members?membership=join", nil)["chunk"].([]any)
	if len(members) != 2 {
		t.Errorf("members %v", members)
	}

	// Bob (power 0) cannot kick alice; alice kicks, bans, unbans bob.
	if st, _ := rs.call(t, bob, "POST", base+"/kick", map[string]any{"user_id": alice.UserID}); st != 403 {
		t.Errorf("bob kicking alice: %d", st)
	}
	rs.must(t, alice, "POST", base+"/kick", map[string]any{"user_id": bob.UserID, "reason": "bye"})
	s = rs.sync(t, bob, "timeout=0&since="+s.NextBatch)
	if _, ok := s.Rooms.Leave[roomID]; !ok {
		t.Errorf("kicked room not in rooms.leave: %+v", s.Rooms)
	}
	rs.must(t, alice, "POST", base+"/ban", map[string]any{"user_id": bob.UserID})
	if st, _ := rs.call(t, alice, "POST", base+"/invite", map[string]any{"user_id": bob.UserID}); st != 403 {
		t.Errorf("inviting a banned user: %d", st)
	}
	if st, _ := rs.call(t, alice, "POST", base+"/unban", map[string]any{"user_id": alice.UserID}); st != 403 {
		t.Errorf("unbanning a non-banned user: %d", st)
	}
	rs.must(t, alice, "POST", base+"/unban", map[string]any{"user_id": bob.UserID})
	rs.must(t, alice, "POST", base+"/invite", map[string]any{"user_id": bob.UserID})
	rs.must(t, bob, "POST", base+"/join", nil)
	// The join carries bob's display name from his profile.
	m := rs.must(t, alice, "GET", base+"/state/m.room.member/"+esc(bob.UserID), nil)
	if m.str("displayname") != "Bobby" || m.str("membership") != "join" {
		t.Errorf("bob's member event %v", m)
	}
	// Forgetting needs leaving first.
	if st, _ := rs.call(t, bob, "POST", base+"/forget", nil); st != 400 {
		t.Errorf("forget while joined: %d", st)
	}
	rs.must(t, bob, "POST", base+"/leave", nil)
	rs.must(t, bob, "POST", base+"/forget", nil)
	s = rs.sync(t, bob, "")
	if _, ok := s.Rooms.Leave[roomID]; ok {
		t.Error("forgotten room still synced")
	}
	// A left member can no longer read new state.
	rs.send(t, alice, roomID, "after bob left")
	if st, _ := rs.call(t, bob, "GET", base+"/members", nil); st != 200 {
		t.Errorf("former member reading members at leave: %d", st)
	}
}

func TestUpdateProfileSendsMemberEvents(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	r1 := rs.createRoom(t, alice, nil)
	r2 := rs.createRoom(t, alice, nil)
	if err := rs.Rooms.UpdateProfile(t.Context(), alice.UserID, "Alice A", "mxc://test/a"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{r1, r2} {
		m := rs.must(t, alice, "GET", "/rooms/"+esc(id)+"/state/m.room.member/"+esc(alice.UserID), nil)
		if m.str("displayname") != "Alice A" || m.str("avatar_url") != "mxc://test/a" || m.str("membership") != "join" {
			t.Errorf("room %s member %v", id, m)
		}
	}
}

func TestJoinPublicRoomAndAliases(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat", "room_alias_name": "lobby"})
	got := rs.must(t, bob, "GET", "/directory/room/"+esc("#lobby:test"), nil)
	if got.str("room_id") != roomID {
		t.Errorf("alias resolves to %v", got)
	}
	if st, out := rs.call(t, alice, "POST", "/createRoom", map[string]any{"room_alias_name": "lobby"}); st != 400 || out.str("errcode") != "M_ROOM_IN_USE" {
		t.Errorf("duplicate alias: %d %v", st, out)
	}
	if j := rs.must(t, bob, "POST", "/join/"+esc("#lobby:test"), nil); j.str("room_id") != roomID {
		t.Errorf("join by alias %v", j)
	}
	rs.must(t, bob, "PUT", "/directory/room/"+esc("#second:test"), map[string]any{"room_id": roomID})
	tests := []struct {
		name, method, path string
		body               any
		user               int // 0 alice, 1 bob
		status             int
		code               string
	}{
		{"taken", "PUT", "/directory/room/" + esc("#second:test"), map[string]any{"room_id": roomID}, 0, 409, "M_ROOM_IN_USE"},
		{"unknown alias", "GET", "/directory/room/" + esc("#nope:test"), nil, 0, 404, "M_NOT_FOUND"},
		{"malformed alias", "GET", "/directory/room/" + esc("nohash"), nil, 0, 400, "M_INVALID_PARAM"},
		{"unknown room", "PUT", "/directory/room/" + esc("#x:test"), map[string]any{"room_id": "!nope:test"}, 0, 404, "M_NOT_FOUND"},
		{"missing room_id", "PUT", "/directory/room/" + esc("#y:test"), map[string]any{}, 0, 400, "M_MISSING_PARAM"},
		{"other server", "PUT", "/directory/room/" + esc("#z:elsewhere"), map[string]any{"room_id": roomID}, 0, 400, "M_INVALID_PARAM"},
		{"delete unknown", "DELETE", "/directory/room/" + esc("#nope:test"), nil, 0, 404, "M_NOT_FOUND"},
		{"bob deletes alice's", "DELETE", "/directory/room/" + esc("#lobby:test"), nil, 1, 403, "M_FORBIDDEN"},
		{"join unknown alias", "POST", "/join/" + esc("#nope:test"), nil, 1, 404, "M_NOT_FOUND"},
		{"join unknown room", "POST", "/join/" + esc("!nope:test"), nil, 1, 404, "M_NOT_FOUND"},
		{"join malformed", "POST", "/join/" + esc("garbage"), nil, 1, 400, "M_INVALID_PARAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := alice
			if tc.user == 1 {
				u = bob
			}
			st, out := rs.call(t, u, tc.method, tc.path, tc.body)
			if st != tc.status || out.str("errcode") != tc.code {
				t.Errorf("got %d %v, want %d %s", st, out, tc.status, tc.code)
			}
		})
	}
	rs.must(t, bob, "DELETE", "/directory/room/"+esc("#second:test"), nil)
	rs.must(t, alice, "DELETE", "/directory/room/"+esc("#lobby:test"), nil)
	as := rs.must(t, alice, "GET", "/rooms/"+esc(roomID)+"/aliases", nil)["aliases"].([]any)
	if len(as) != 0 {
		t.Errorf("aliases left: %v", as)
	}
}
