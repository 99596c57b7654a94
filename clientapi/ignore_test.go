package clientapi_test

import (
	"encoding/json"
	"testing"
)

func TestIgnoredUsersHidden(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	carol := rs.AddUser(t, "carol", "pw-carol-123")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{})
	rs.must(t, carol, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{})
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/account_data/m.ignored_user_list",
		map[string]any{"ignored_users": map[string]any{bob.UserID: map[string]any{}}})
	since := rs.sync(t, alice, "timeout=0").NextBatch
	hidden := rs.send(t, bob, roomID, "you cannot see me")
	shown := rs.send(t, carol, roomID, "visible")
	// Bob's invite to another room is not delivered to alice either.
	bobRoom := rs.createRoom(t, bob, nil)
	rs.must(t, bob, "POST", "/rooms/"+esc(bobRoom)+"/invite", map[string]any{"user_id": alice.UserID})
	carolRoom := rs.createRoom(t, carol, nil)
	rs.must(t, carol, "POST", "/rooms/"+esc(carolRoom)+"/invite", map[string]any{"user_id": alice.UserID})

	has := func(evs []json.RawMessage, id string) bool {
		for _, raw := range evs {
			var e ev
			if json.Unmarshal(raw, &e) == nil && e.EventID == id {
				return true
			}
		}
		return false
	}
	ids := func(evs []ev) []json.RawMessage {
		out := make([]json.RawMessage, len(evs))
		for i, e := range evs {
			out[i], _ = json.Marshal(e)
		}
		return out
	}
	var msgs struct {
		Chunk []json.RawMessage `json:"chunk"`
	}
	if st := rs.Do(t, "GET", "/_matrix/client/v3/rooms/"+esc(roomID)+"/messages?dir=b&limit=50", alice.Token, nil, &msgs); st != 200 {
		t.Fatalf("messages status %d", st)
	}
	s := rs.sync(t, alice, "timeout=0&since="+since)
	initial := rs.sync(t, alice, "")
	for _, tc := range []struct {
		name string
		evs  []json.RawMessage
	}{
		{"incremental sync", ids(s.Rooms.Join[roomID].Timeline.Events)},
		{"initial sync", ids(initial.Rooms.Join[roomID].Timeline.Events)},
		{"messages", msgs.Chunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if has(tc.evs, hidden) {
				t.Error("an ignored user's message is shown")
			}
			if !has(tc.evs, shown) {
				t.Error("another user's message is missing")
			}
		})
	}
	t.Run("invites", func(t *testing.T) {
		if _, ok := s.Rooms.Invite[bobRoom]; ok {
			t.Error("invite from an ignored user delivered")
		}
		if _, ok := s.Rooms.Invite[carolRoom]; !ok {
			t.Error("invite from another user missing")
		}
	})
	// Bob's own view is unaffected.
	if b := rs.sync(t, bob, ""); !has(ids(b.Rooms.Join[roomID].Timeline.Events), hidden) {
		t.Error("the ignored user no longer sees their own message")
	}
	// Un-ignoring shows bob's messages again.
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/account_data/m.ignored_user_list",
		map[string]any{"ignored_users": map[string]any{}})
	if a := rs.sync(t, alice, ""); !has(ids(a.Rooms.Join[roomID].Timeline.Events), hidden) {
		t.Error("message hidden after un-ignoring")
	}
}
