package rooms_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

func errcode(err error) string {
	var he *homeserver.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return ""
}

func stateField(t *testing.T, svc *rooms.Service, d homeserver.Device, roomID, typ, key string) map[string]any {
	t.Helper()
	raw, err := svc.StateEvent(context.Background(), d, roomID, typ, key)
	if err != nil {
		t.Fatalf("state %s/%s of %s: %v", typ, key, roomID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUpgradeByModeratorSurvivesRestart: a moderator below the level of
// some copied state upgrades (the new room raises them while copying and
// restores their level at the end), and everything is on disk.
func TestUpgradeByModeratorSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, rooms.DefaultConfig())
	alice, bob := dev("@alice:test"), dev("@bob:test")
	pl := map[string]json.RawMessage{
		"users":  json.RawMessage(`{"@alice:test":100,"@bob:test":60}`),
		"events": json.RawMessage(`{"m.room.tombstone":50,"m.room.server_acl":100,"m.room.power_levels":100}`),
	}
	old, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{RoomVersion: "11", Preset: "public_chat", Name: "old",
		PowerLevelContentOverride: pl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, bob, old, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, alice, old, "m.room.server_acl", "", json.RawMessage(`{"allow":["*"],"deny":[]}`)); err != nil {
		t.Fatal(err)
	}
	nr, err := e.svc.UpgradeRoom(ctx, bob, old, "11", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.restart(t)

	create := stateField(t, e.svc, bob, nr, "m.room.create", "")
	if pred, _ := create["predecessor"].(map[string]any); pred["room_id"] != old {
		t.Errorf("predecessor %v", create)
	}
	if acl := stateField(t, e.svc, bob, nr, "m.room.server_acl", ""); acl["allow"] == nil {
		t.Errorf("server ACL not copied: %v", acl)
	}
	if n := stateField(t, e.svc, bob, nr, "m.room.name", ""); n["name"] != "old" {
		t.Errorf("name %v", n)
	}
	users, _ := stateField(t, e.svc, bob, nr, "m.room.power_levels", "")["users"].(map[string]any)
	if users["@bob:test"] != float64(60) || users["@alice:test"] != float64(100) {
		t.Errorf("final power levels users %v: want bob back at 60, alice 100", users)
	}
	if ts := stateField(t, e.svc, bob, old, "m.room.tombstone", ""); ts["replacement_room"] != nr {
		t.Errorf("tombstone %v", ts)
	}
}

func TestKnockAndRestrictedJoin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, rooms.DefaultConfig())
	alice, bob, carol := dev("@alice:test"), dev("@bob:test"), dev("@carol:test")
	space, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, bob, space, ""); err != nil {
		t.Fatal(err)
	}
	rule := json.RawMessage(`{"join_rule":"knock_restricted","allow":[{"type":"m.room_membership","room_id":"` + space + `"}]}`)
	room, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{RoomVersion: "10",
		InitialState: []rooms.StateEvent{{Type: "m.room.join_rules", Content: rule}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		code string
	}{
		{"space member joins", func() error { _, err := e.svc.Join(ctx, bob, room, ""); return err }, ""},
		{"outsider cannot join", func() error { _, err := e.svc.Join(ctx, carol, room, ""); return err }, homeserver.ErrForbidden},
		{"outsider knocks", func() error { _, err := e.svc.Knock(ctx, carol, room, "please"); return err }, ""},
		{"member cannot knock", func() error { _, err := e.svc.Knock(ctx, bob, room, ""); return err }, homeserver.ErrForbidden},
		{"unknown room", func() error { _, err := e.svc.Knock(ctx, carol, "!nope:test", ""); return err }, homeserver.ErrNotFound},
		{"knocker invited", func() error { return e.svc.Invite(ctx, alice, room, carol.UserID, "") }, ""},
		{"invited knocker joins", func() error { _, err := e.svc.Join(ctx, carol, room, ""); return err }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errcode(tc.do()); got != tc.code {
				t.Fatalf("errcode %q, want %q", got, tc.code)
			}
		})
	}
	if m := stateField(t, e.svc, alice, room, "m.room.member", bob.UserID); m["join_authorised_via_users_server"] != alice.UserID {
		t.Errorf("bob's join %v", m)
	}
	if m := stateField(t, e.svc, alice, room, "m.room.member", carol.UserID); m["membership"] != "join" || m["join_authorised_via_users_server"] != nil {
		t.Errorf("carol's join %v", m)
	}
}

// TestConcurrentUpgradesShareOneRoom: the same user's upgrade requests
// arriving together (a double click, a client retry) make one
// replacement room, and the tombstone points to it.
func TestConcurrentUpgradesShareOneRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, rooms.DefaultConfig())
	alice := dev("@alice:test")
	old, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "private_chat", Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	got := make(chan string, n)
	for range n {
		go func() {
			nr, err := e.svc.UpgradeRoom(ctx, alice, old, "12", nil)
			if err != nil {
				t.Error(err)
			}
			got <- nr
		}()
	}
	first := <-got
	for range n - 1 {
		if nr := <-got; nr != first {
			t.Errorf("upgrades made two rooms: %s and %s", first, nr)
		}
	}
	if ts := stateField(t, e.svc, alice, old, "m.room.tombstone", ""); ts["replacement_room"] != first {
		t.Errorf("tombstone %v, want %s", ts, first)
	}
	joined := e.svc.JoinedRooms(ctx, alice)
	if len(joined) != 2 {
		t.Errorf("alice is in %d rooms, want the old and one new: %v", len(joined), joined)
	}
}
