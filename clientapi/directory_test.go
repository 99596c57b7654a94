package clientapi_test

import "testing"

func TestPublicRoomDirectory(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	pub := rs.createRoom(t, alice, map[string]any{"visibility": "public", "name": "Town square", "topic": "chat", "room_alias_name": "town"})
	priv := rs.createRoom(t, alice, map[string]any{"name": "Secret"})
	var list struct {
		Chunk []struct {
			RoomID         string `json:"room_id"`
			Name           string `json:"name"`
			CanonicalAlias string `json:"canonical_alias"`
			Joined         int    `json:"num_joined_members"`
		} `json:"chunk"`
		Total int `json:"total_room_count_estimate"`
	}
	if st := rs.Do(t, "GET", "/_matrix/client/v3/publicRooms", "", nil, &list); st != 200 {
		t.Fatalf("publicRooms: %d", st)
	}
	if len(list.Chunk) != 1 || list.Chunk[0].RoomID != pub || list.Chunk[0].Name != "Town square" ||
		list.Chunk[0].CanonicalAlias != "#town:test" || list.Chunk[0].Joined != 1 {
		t.Fatalf("directory %+v", list)
	}
	if v := rs.must(t, bob, "GET", "/directory/list/room/"+esc(priv), nil).str("visibility"); v != "private" {
		t.Errorf("private room visibility %q", v)
	}
	if st, _ := rs.call(t, bob, "PUT", "/directory/list/room/"+esc(priv), map[string]any{"visibility": "public"}); st != 403 {
		t.Errorf("bob publishing alice's room: %d", st)
	}
	rs.must(t, alice, "PUT", "/directory/list/room/"+esc(priv), map[string]any{"visibility": "public"})
	st := rs.Do(t, "POST", "/_matrix/client/v3/publicRooms", bob.Token, map[string]any{"filter": map[string]any{"generic_search_term": "secret"}}, &list)
	if st != 200 || len(list.Chunk) != 1 || list.Chunk[0].RoomID != priv {
		t.Errorf("search: %d %+v", st, list)
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"bad visibility", "PUT", "/directory/list/room/" + esc(priv), map[string]any{"visibility": "hidden"}, 400, "M_INVALID_PARAM"},
		{"unknown room", "GET", "/directory/list/room/" + esc("!nope:test"), nil, 404, "M_NOT_FOUND"},
		{"bad since", "GET", "/publicRooms?since=zz", nil, 400, "M_INVALID_PARAM"},
		{"remote server", "GET", "/publicRooms?server=elsewhere", nil, 403, "M_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rs.call(t, alice, tc.method, tc.path, tc.body)
			if st != tc.status || out.str("errcode") != tc.code {
				t.Errorf("got %d %v, want %d %s", st, out, tc.status, tc.code)
			}
		})
	}
	// Paging.
	var page struct {
		Chunk     []any  `json:"chunk"`
		NextBatch string `json:"next_batch"`
	}
	rs.Do(t, "GET", "/_matrix/client/v3/publicRooms?limit=1", "", nil, &page)
	if len(page.Chunk) != 1 || page.NextBatch == "" {
		t.Fatalf("page 1 %+v", page)
	}
	next := page.NextBatch
	page.NextBatch, page.Chunk = "", nil
	rs.Do(t, "GET", "/_matrix/client/v3/publicRooms?limit=1&since="+next, "", nil, &page)
	if len(page.Chunk) != 1 || page.NextBatch != "" {
		t.Errorf("page 2 %+v", page)
	}
}
