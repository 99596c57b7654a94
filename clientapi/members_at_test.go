package clientapi_test

import (
	"slices"
	"testing"
)

func TestMembersAtToken(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	carol := rs.AddUser(t, "carol", "pw-carol-123")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{})
	beforeCarol := rs.sync(t, alice, "timeout=0").NextBatch
	rs.must(t, carol, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{})
	rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/leave", map[string]any{})
	now := rs.sync(t, alice, "timeout=0").NextBatch

	for _, tc := range []struct {
		name    string
		query   string
		status  int
		errcode string
		joined  []string
	}{
		{"current", "", 200, "", []string{alice.UserID, carol.UserID}},
		{"at a token before carol joined", "?membership=join&at=" + esc(beforeCarol), 200, "", []string{alice.UserID, bob.UserID}},
		{"at the latest token", "?membership=join&at=" + esc(now), 200, "", []string{alice.UserID, carol.UserID}},
		{"at the start of the stream", "?at=s0", 200, "", nil},
		{"bad token", "?at=garbage", 400, "M_INVALID_PARAM", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rs.call(t, alice, "GET", "/rooms/"+esc(roomID)+"/members"+tc.query, nil)
			if st != tc.status || out.str("errcode") != tc.errcode {
				t.Fatalf("status %d %v, want %d %s", st, out, tc.status, tc.errcode)
			}
			if st != 200 {
				return
			}
			var joined []string
			chunk, _ := out["chunk"].([]any)
			for _, c := range chunk {
				e, _ := c.(map[string]any)
				content, _ := e["content"].(map[string]any)
				if content["membership"] == "join" {
					joined = append(joined, e["state_key"].(string))
				}
			}
			slices.Sort(joined)
			want := slices.Clone(tc.joined)
			slices.Sort(want)
			if !slices.Equal(joined, want) {
				t.Errorf("joined %v, want %v", joined, want)
			}
		})
	}
}
