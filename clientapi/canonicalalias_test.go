package clientapi_test

import "testing"

func TestCanonicalAliasMustPointToRoom(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, nil)
	other := rs.createRoom(t, alice, nil)
	rs.must(t, alice, "PUT", "/directory/room/"+esc("#here:test"), map[string]any{"room_id": roomID})
	rs.must(t, alice, "PUT", "/directory/room/"+esc("#alt:test"), map[string]any{"room_id": roomID})
	rs.must(t, alice, "PUT", "/directory/room/"+esc("#there:test"), map[string]any{"room_id": other})
	path := "/rooms/" + esc(roomID) + "/state/m.room.canonical_alias/"
	for _, tc := range []struct {
		name    string
		body    map[string]any
		status  int
		errcode string
	}{
		{"alias of this room", map[string]any{"alias": "#here:test"}, 200, ""},
		{"alias and alt aliases", map[string]any{"alias": "#here:test", "alt_aliases": []string{"#alt:test"}}, 200, ""},
		{"no alias", map[string]any{}, 200, ""},
		{"null alias", map[string]any{"alias": nil}, 200, ""},
		{"unknown alias", map[string]any{"alias": "#nowhere:test"}, 400, "M_BAD_ALIAS"},
		{"alias of another room", map[string]any{"alias": "#there:test"}, 400, "M_BAD_ALIAS"},
		{"remote alias", map[string]any{"alias": "#here:elsewhere.example"}, 400, "M_BAD_ALIAS"},
		{"malformed alias", map[string]any{"alias": "here"}, 400, "M_BAD_ALIAS"},
		{"empty alias", map[string]any{"alias": ""}, 400, "M_BAD_ALIAS"},
		{"bad alt alias", map[string]any{"alias": "#here:test", "alt_aliases": []string{"#there:test"}}, 400, "M_BAD_ALIAS"},
		{"alias not a string", map[string]any{"alias": 7}, 400, "M_BAD_JSON"},
		{"alt_aliases not a list", map[string]any{"alt_aliases": "#alt:test"}, 400, "M_BAD_JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rs.call(t, alice, "PUT", path, tc.body)
			if st != tc.status || out.str("errcode") != tc.errcode {
				t.Errorf("status %d %v, want %d %s", st, out, tc.status, tc.errcode)
			}
		})
	}
	// A refused alias leaves the previous canonical alias in place.
	rs.must(t, alice, "PUT", path, map[string]any{"alias": "#here:test"})
	rs.call(t, alice, "PUT", path, map[string]any{"alias": "#there:test"})
	if got := rs.must(t, alice, "GET", path, nil); got.str("alias") != "#here:test" {
		t.Errorf("canonical alias %v", got)
	}
}
