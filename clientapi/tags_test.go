package clientapi_test

import "testing"

func TestRoomTags(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"name": "tagged"})
	base := "/user/" + esc(alice.UserID) + "/rooms/" + esc(roomID) + "/tags"
	since := rs.sync(t, alice, "timeout=0").NextBatch

	for _, tc := range []struct {
		name    string
		method  string
		path    string
		as      string
		body    any
		status  int
		errcode string
	}{
		{"put with order", "PUT", base + "/m.favourite", "alice", map[string]any{"order": 0.25}, 200, ""},
		{"put without order", "PUT", base + "/u.work", "alice", map[string]any{}, 200, ""},
		{"order not a number", "PUT", base + "/u.bad", "alice", map[string]any{"order": "first"}, 400, "M_BAD_JSON"},
		{"body not an object", "PUT", base + "/u.bad", "alice", []int{1}, 400, "M_BAD_JSON"},
		{"other user put", "PUT", base + "/u.x", "bob", map[string]any{}, 403, "M_FORBIDDEN"},
		{"other user get", "GET", base, "bob", nil, 403, "M_FORBIDDEN"},
		{"other user delete", "DELETE", base + "/u.work", "bob", nil, 403, "M_FORBIDDEN"},
		{"bad room id", "GET", "/user/" + esc(alice.UserID) + "/rooms/nonsense/tags", "alice", nil, 400, "M_INVALID_PARAM"},
		{"delete absent tag", "DELETE", base + "/u.none", "alice", nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := alice
			if tc.as == "bob" {
				u = bob
			}
			st, out := rs.call(t, u, tc.method, tc.path, tc.body)
			if st != tc.status || out.str("errcode") != tc.errcode {
				t.Errorf("status %d %v, want %d %s", st, out, tc.status, tc.errcode)
			}
		})
	}

	got := rs.must(t, alice, "GET", base, nil)
	tags, _ := got["tags"].(map[string]any)
	fav, _ := tags["m.favourite"].(map[string]any)
	if len(tags) != 2 || fav["order"] != 0.25 || tags["u.work"] == nil {
		t.Fatalf("tags %v", got)
	}
	s := rs.sync(t, alice, "timeout=0&since="+since)
	e := findEvent(s.Rooms.Join[roomID].AccountData.Events, "m.tag")
	if e == nil {
		t.Fatalf("m.tag not in sync: %+v", s.Rooms.Join[roomID])
	}
	if st, _ := e.Content["tags"].(map[string]any); len(st) != 2 {
		t.Errorf("m.tag in sync %v", e.Content)
	}

	rs.must(t, alice, "DELETE", base+"/m.favourite", nil)
	got = rs.must(t, alice, "GET", base, nil)
	if tags, _ := got["tags"].(map[string]any); len(tags) != 1 || tags["m.favourite"] != nil {
		t.Errorf("after delete %v", got)
	}
	// Untagged rooms answer an empty tag set.
	other := rs.createRoom(t, alice, nil)
	got = rs.must(t, alice, "GET", "/user/"+esc(alice.UserID)+"/rooms/"+esc(other)+"/tags", nil)
	if tags, ok := got["tags"].(map[string]any); !ok || len(tags) != 0 {
		t.Errorf("untagged room %v", got)
	}
}
