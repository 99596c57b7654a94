package clientapi_test

import (
	"testing"

	"scop/homeserver/rooms"
)

func TestReceiptsAndReadMarkers(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	ev := rs.send(t, alice, roomID, "read me")
	s := rs.sync(t, alice, "")
	base := "/rooms/" + esc(roomID)
	rs.must(t, bob, "POST", base+"/receipt/m.read/"+esc(ev), map[string]any{})
	rs.must(t, bob, "POST", base+"/receipt/m.read.private/"+esc(ev), map[string]any{})
	s2 := rs.sync(t, alice, "timeout=0&since="+s.NextBatch)
	rc := findEvent(s2.Rooms.Join[roomID].Ephemeral.Events, "m.receipt")
	if rc == nil {
		t.Fatalf("no receipt in alice's sync: %+v", s2.Rooms.Join[roomID])
	}
	byType, _ := rc.Content[ev].(map[string]any)
	if byType["m.read"] == nil || byType["m.read.private"] != nil {
		t.Errorf("receipt content %v (private receipts must stay private)", rc.Content)
	}
	// read_markers sets m.fully_read as room account data and a receipt.
	bs := rs.sync(t, bob, "")
	rs.must(t, bob, "POST", base+"/read_markers", map[string]any{"m.fully_read": ev, "m.read": ev})
	bs2 := rs.sync(t, bob, "timeout=0&since="+bs.NextBatch)
	if findEvent(bs2.Rooms.Join[roomID].AccountData.Events, "m.fully_read") == nil {
		t.Errorf("no m.fully_read: %+v", bs2.Rooms.Join[roomID].AccountData)
	}
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown type", base + "/receipt/m.seen/" + esc(ev), 400, "M_INVALID_PARAM"},
		{"unknown event", base + "/receipt/m.read/" + esc("$nope"), 404, "M_NOT_FOUND"},
		{"unknown room", "/rooms/" + esc("!nope:test") + "/receipt/m.read/" + esc(ev), 403, "M_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rs.call(t, bob, "POST", tc.path, map[string]any{})
			if st != tc.status || out.str("errcode") != tc.code {
				t.Errorf("got %d %v, want %d %s", st, out, tc.status, tc.code)
			}
		})
	}
}

func TestUnreadNotificationCounts(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	var ids []string
	for range 3 {
		ids = append(ids, rs.send(t, alice, roomID, "unread"))
	}
	count := func(query string) (float64, string) {
		t.Helper()
		var out struct {
			NextBatch string `json:"next_batch"`
			Rooms     struct {
				Join map[string]struct {
					Unread map[string]float64 `json:"unread_notifications"`
				} `json:"join"`
			} `json:"rooms"`
		}
		if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?"+query, bob.Token, nil, &out); st != 200 {
			t.Fatalf("sync: %d", st)
		}
		return out.Rooms.Join[roomID].Unread["notification_count"], out.NextBatch
	}
	n, next := count("")
	if n != 3 {
		t.Errorf("unread %v, want 3", n)
	}
	rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/receipt/m.read/"+esc(ids[1]), map[string]any{})
	if n, _ = count("timeout=0&since=" + next); n != 1 {
		t.Errorf("unread after receipt %v, want 1", n)
	}
	rs.send(t, bob, roomID, "my reply")
	if n, _ = count(""); n != 0 {
		t.Errorf("unread after own message %v, want 0", n)
	}
}

// TestUnreadCountPastCache counts unread messages older than the
// in-memory recent events from the database.
func TestUnreadCountPastCache(t *testing.T) {
	rs := newRoomsServer(t, func(c *rooms.Config) { c.RecentEvents = 2 })
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	for range 5 {
		rs.send(t, alice, roomID, "unread")
	}
	var out struct {
		Rooms struct {
			Join map[string]struct {
				Unread map[string]float64 `json:"unread_notifications"`
			} `json:"join"`
		} `json:"rooms"`
	}
	rs.Do(t, "GET", "/_matrix/client/v3/sync", bob.Token, nil, &out)
	if n := out.Rooms.Join[roomID].Unread["notification_count"]; n != 5 {
		t.Errorf("unread %v, want 5", n)
	}
}
