package clientapi_test

import (
	"fmt"
	"slices"
	"testing"
)

func TestSlidingSyncToDevice(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	body := map[string]any{"extensions": map[string]any{"to_device": map[string]any{"enabled": true}}}
	s0 := rs.sliding(t, alice, "", body)
	if s0.Extensions.ToDevice == nil || len(s0.Extensions.ToDevice.Events) != 0 {
		t.Fatalf("to_device %+v", s0.Extensions.ToDevice)
	}
	done := make(chan slidingResp, 1)
	go func() {
		var out slidingResp
		rs.Do(t, "POST", slidingPath+"?timeout=20000&pos="+s0.Pos, alice.Token, map[string]any{"extensions": map[string]any{
			"to_device": map[string]any{"enabled": true, "since": s0.Extensions.ToDevice.NextBatch}}}, &out)
		done <- out
	}()
	rs.must(t, bob, "PUT", "/sendToDevice/m.test/t1", map[string]any{"messages": map[string]any{
		alice.UserID: map[string]any{alice.DeviceID: map[string]any{"n": 1}}}})
	s1 := <-done
	td := s1.Extensions.ToDevice
	if td == nil || len(td.Events) != 1 || td.Events[0].Sender != bob.UserID || td.Events[0].Type != "m.test" {
		t.Fatalf("to_device %+v", td)
	}
	ack := map[string]any{"extensions": map[string]any{"to_device": map[string]any{"enabled": true, "since": td.NextBatch}}}
	if s2 := rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, ack); len(s2.Extensions.ToDevice.Events) != 0 {
		t.Errorf("acknowledged message delivered again: %+v", s2.Extensions.ToDevice.Events)
	}
}

func TestSlidingSyncE2EE(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	room := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(room), nil)
	rs.must(t, alice, "POST", "/keys/upload", map[string]any{"one_time_keys": map[string]any{
		"signed_curve25519:AAAA": map[string]any{"key": "a2V5"}}})
	body := map[string]any{"lists": allList(1)["lists"], "extensions": map[string]any{"e2ee": map[string]any{"enabled": true}}}
	s0 := rs.sliding(t, alice, "", body)
	e := s0.Extensions.E2EE
	if e == nil || e.OTKCounts["signed_curve25519"] != 1 || e.Fallback == nil {
		t.Fatalf("e2ee %+v", e)
	}
	bob2 := rs.AddUser2(t, "bob", "pw-bob-12345")
	uploadDeviceKeys(t, rs, bob2)
	s1 := rs.sliding(t, alice, "timeout=0&pos="+s0.Pos, body)
	if got := s1.Extensions.E2EE.DeviceLists.Changed; !slices.Equal(got, []string{bob.UserID}) {
		t.Errorf("changed %v, want [%s]", got, bob.UserID)
	}
	rs.must(t, bob, "POST", "/rooms/"+esc(room)+"/leave", map[string]any{})
	s2 := rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, body)
	if got := s2.Extensions.E2EE.DeviceLists.Left; !slices.Equal(got, []string{bob.UserID}) {
		t.Errorf("left %v, want [%s]", got, bob.UserID)
	}
	t.Run("without lists", func(t *testing.T) {
		// Element X asks for e2ee on a connection of its own, with no lists.
		only := map[string]any{"conn_id": "encryption", "extensions": map[string]any{"e2ee": map[string]any{"enabled": true}}}
		e0 := rs.sliding(t, alice, "", only)
		carol := rs.AddUser(t, "carol", "pw-carol-1234")
		rs.must(t, carol, "POST", "/join/"+esc(room), nil)
		e1 := rs.sliding(t, alice, "timeout=0&pos="+e0.Pos, only)
		if got := e1.Extensions.E2EE.DeviceLists.Changed; !slices.Equal(got, []string{carol.UserID}) {
			t.Errorf("changed after a join %v, want [%s]", got, carol.UserID)
		}
		rs.must(t, carol, "POST", "/rooms/"+esc(room)+"/leave", map[string]any{})
		e2 := rs.sliding(t, alice, "timeout=0&pos="+e1.Pos, only)
		if got := e2.Extensions.E2EE.DeviceLists.Left; !slices.Equal(got, []string{carol.UserID}) {
			t.Errorf("left %v, want [%s]", got, carol.UserID)
		}
		other := rs.createRoom(t, carol, map[string]any{"preset": "public_chat"})
		rs.must(t, alice, "POST", "/join/"+esc(other), nil)
		e3 := rs.sliding(t, alice, "timeout=0&pos="+e2.Pos, only)
		if got := e3.Extensions.E2EE.DeviceLists.Changed; !slices.Equal(got, []string{carol.UserID}) {
			t.Errorf("changed after joining carol's room %v, want [%s]", got, carol.UserID)
		}
	})
}

func TestSlidingSyncExtensions(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	room := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(room), nil)
	eventID := rs.send(t, bob, room, "read me")
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/account_data/m.test.global", map[string]any{"g": 1})
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/rooms/"+esc(room)+"/account_data/m.test.room", map[string]any{"r": 1})
	on := map[string]any{"enabled": true}
	body := map[string]any{"lists": allList(1)["lists"], "extensions": map[string]any{"account_data": on, "receipts": on, "typing": on}}
	s0 := rs.sliding(t, alice, "", body)
	ad := s0.Extensions.AccountData
	if ad == nil || !slices.ContainsFunc(ad.Global, func(e ev) bool { return e.Type == "m.test.global" }) ||
		len(ad.Rooms[room]) != 1 || ad.Rooms[room][0].Type != "m.test.room" {
		t.Errorf("account_data %+v", ad)
	}
	rs.must(t, bob, "POST", "/rooms/"+esc(room)+"/receipt/m.read/"+esc(eventID), map[string]any{})
	rs.must(t, bob, "PUT", "/rooms/"+esc(room)+"/typing/"+esc(bob.UserID), map[string]any{"typing": true, "timeout": 30000})
	s1 := rs.sliding(t, alice, "timeout=0&pos="+s0.Pos, body)
	if rc := s1.Extensions.Receipts.Rooms[room]; rc.Type != "m.receipt" || rc.Content[eventID] == nil {
		t.Errorf("receipts %+v", s1.Extensions.Receipts)
	}
	if ty := s1.Extensions.Typing.Rooms[room]; ty.Type != "m.typing" || fmt.Sprint(ty.Content["user_ids"]) != "["+bob.UserID+"]" {
		t.Errorf("typing %+v", s1.Extensions.Typing)
	}
	if ad := s1.Extensions.AccountData; len(ad.Global) != 0 || len(ad.Rooms) != 0 {
		t.Errorf("unchanged account data sent again: %+v", ad)
	}
}

// elementXList is a room list request shaped like Element X's.
func elementXList() map[string]any {
	return map[string]any{"conn_id": "room-list", "lists": map[string]any{"all_rooms": map[string]any{
		"ranges": [][2]int{{0, 19}}, "timeline_limit": 1,
		"required_state": [][2]string{{"m.room.encryption", ""}, {"m.room.member", "$LAZY"}, {"m.room.member", "$ME"},
			{"m.room.name", ""}, {"m.room.canonical_alias", ""}, {"m.room.power_levels", ""}, {"m.room.join_rules", ""},
			{"m.room.create", ""}, {"m.room.topic", ""}, {"m.room.avatar", ""}, {"m.room.history_visibility", ""}},
		"filters": map[string]any{"not_room_types": []any{"m.space"}}}},
		"extensions": map[string]any{"account_data": map[string]any{"enabled": true}, "receipts": map[string]any{"enabled": true},
			"typing": map[string]any{"enabled": true}}}
}

// BenchmarkSlidingSyncInitial: a new connection of a user in 100 rooms,
// asking for the 20 most recent the way Element X's room list does.
func BenchmarkSlidingSyncInitial(b *testing.B) {
	rs := newRoomsServerTB(b)
	alice := rs.AddUser(b, "alice", "pw-alice-123")
	for i := range 100 {
		var out obj
		rs.Do(b, "POST", "/_matrix/client/v3/createRoom", alice.Token, map[string]any{"name": fmt.Sprint("room ", i)}, &out)
	}
	body := elementXList()
	b.ResetTimer()
	for range b.N {
		var out slidingResp
		if st := rs.Do(b, "POST", slidingPath, alice.Token, body, &out); st != 200 || len(out.Rooms) != 20 {
			b.Fatalf("status %d rooms %d", st, len(out.Rooms))
		}
	}
}

// BenchmarkSlidingSyncIncremental: the same user polling with a pos when
// nothing changed (timeout=0): the cost of an idle Element X.
func BenchmarkSlidingSyncIncremental(b *testing.B) {
	rs := newRoomsServerTB(b)
	alice := rs.AddUser(b, "alice", "pw-alice-123")
	for i := range 100 {
		var out obj
		rs.Do(b, "POST", "/_matrix/client/v3/createRoom", alice.Token, map[string]any{"name": fmt.Sprint("room ", i)}, &out)
	}
	body := elementXList()
	var s0 slidingResp
	rs.Do(b, "POST", slidingPath, alice.Token, body, &s0)
	b.ResetTimer()
	for range b.N {
		var out slidingResp
		if st := rs.Do(b, "POST", slidingPath+"?timeout=0&pos="+s0.Pos, alice.Token, body, &out); st != 200 || len(out.Rooms) != 0 {
			b.Fatalf("status %d rooms %d", st, len(out.Rooms))
		}
	}
}

func TestSlidingSyncSetsPresence(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	// Presence is for room mates.
	var room struct {
		RoomID string `json:"room_id"`
	}
	rs.Do(t, "POST", "/_matrix/client/v3/createRoom", alice.Token, map[string]any{"preset": "public_chat"}, &room)
	if st := rs.Do(t, "POST", "/_matrix/client/v3/join/"+esc(room.RoomID), bob.Token, map[string]any{}, nil); st != 200 {
		t.Fatalf("join: %d", st)
	}
	rs.sliding(t, alice, "set_presence=unavailable", map[string]any{})
	var p struct {
		Presence string `json:"presence"`
	}
	if st := rs.Do(t, "GET", "/_matrix/client/v3/presence/"+esc(alice.UserID)+"/status", bob.Token, nil, &p); st != 200 || p.Presence != "unavailable" {
		t.Errorf("presence after a sliding sync with set_presence=unavailable: %d %q", st, p.Presence)
	}
	var out slidingResp
	if st := rs.Do(t, "POST", slidingPath+"?set_presence=away", alice.Token, map[string]any{}, &out); st != 400 || out.Errcode != "M_INVALID_PARAM" {
		t.Errorf("bad set_presence: %d %s", st, out.Errcode)
	}
}
