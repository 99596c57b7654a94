package clientapi_test

import (
	"strings"
	"testing"
)

func TestRoomsBadInput(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	msgID := rs.send(t, alice, roomID, "hello")
	base := "/rooms/" + esc(roomID)
	big := `{"body":"` + strings.Repeat("x", 70000) + `"}`
	tests := []struct {
		name, method, path string
		body               any
		bob                bool
		status             int
		code               string
	}{
		{"send not json", "PUT", base + "/send/m.room.message/b1", "{nope", false, 400, "M_NOT_JSON"},
		{"send array", "PUT", base + "/send/m.room.message/b2", "[1,2]", false, 400, "M_BAD_JSON"},
		{"send too large", "PUT", base + "/send/m.room.message/b3", big, false, 413, "M_TOO_LARGE"},
		{"send bad room id", "PUT", "/rooms/" + esc("notaroom") + "/send/m.room.message/b4", "{}", false, 400, "M_INVALID_PARAM"},
		{"send unknown room", "PUT", "/rooms/" + esc("!unknown:test") + "/send/m.room.message/b5", "{}", false, 403, "M_FORBIDDEN"},
		{"state unknown room", "GET", "/rooms/" + esc("!unknown:test") + "/state", nil, false, 403, "M_FORBIDDEN"},
		{"state missing", "GET", base + "/state/m.room.avatar", nil, false, 404, "M_NOT_FOUND"},
		{"state by low power", "PUT", base + "/state/m.room.name", map[string]any{"name": "x"}, true, 403, "M_FORBIDDEN"},
		{"power levels by low power", "PUT", base + "/state/m.room.power_levels", map[string]any{"users": map[string]int{"@bob:test": 100}}, true, 403, "M_FORBIDDEN"},
		{"state wrong type", "PUT", base + "/state/m.room.name", `"name"`, false, 400, "M_BAD_JSON"},
		{"create replaced", "PUT", base + "/state/m.room.create", map[string]any{}, false, 403, "M_FORBIDDEN"},
		{"event bad id", "GET", base + "/event/notanid", nil, false, 400, "M_INVALID_PARAM"},
		{"event unknown", "GET", base + "/event/" + esc("$nope"), nil, false, 404, "M_NOT_FOUND"},
		{"createRoom not json", "POST", "/createRoom", "{", false, 400, "M_NOT_JSON"},
		{"createRoom wrong types", "POST", "/createRoom", `{"name": 5}`, false, 400, "M_BAD_JSON"},
		{"createRoom bad preset", "POST", "/createRoom", `{"preset": "party"}`, false, 400, "M_INVALID_PARAM"},
		{"createRoom bad invitee", "POST", "/createRoom", `{"invite": ["bob"]}`, false, 400, "M_INVALID_PARAM"},
		{"createRoom unknown invitee", "POST", "/createRoom", `{"invite": ["@ghost:test"]}`, false, 404, "M_NOT_FOUND"},
		{"createRoom bad initial_state", "POST", "/createRoom", `{"initial_state": [{"type": "m.room.name", "content": 3}]}`, false, 400, "M_BAD_JSON"},
		{"createRoom bad alias", "POST", "/createRoom", `{"room_alias_name": "a:b"}`, false, 400, "M_INVALID_PARAM"},
		{"createRoom bad pl override", "POST", "/createRoom", `{"power_level_content_override": {"users": {"@alice:test": "high"}}}`, false, 400, "M_BAD_JSON"},
		{"createRoom v12 creator in power levels", "POST", "/createRoom", `{"power_level_content_override": {"users": {"@alice:test": 100}}}`, false, 400, "M_BAD_JSON"},
		{"invite missing user", "POST", base + "/invite", map[string]any{}, false, 400, "M_MISSING_PARAM"},
		{"invite bad user", "POST", base + "/invite", map[string]any{"user_id": "nope"}, false, 400, "M_INVALID_PARAM"},
		{"invite remote user", "POST", base + "/invite", map[string]any{"user_id": "@x:elsewhere"}, false, 403, "M_FORBIDDEN"},
		{"kick by low power", "POST", base + "/kick", map[string]any{"user_id": "@alice:test"}, true, 403, "M_FORBIDDEN"},
		{"ban by low power", "POST", base + "/ban", map[string]any{"user_id": "@alice:test"}, true, 403, "M_FORBIDDEN"},
		{"redact other's by low power", "PUT", base + "/redact/" + esc(msgID) + "/r1", map[string]any{}, true, 403, "M_FORBIDDEN"},
		{"redact unknown", "PUT", base + "/redact/" + esc("$nope") + "/r2", map[string]any{}, false, 404, "M_NOT_FOUND"},
		{"messages bad dir", "GET", base + "/messages?dir=x", nil, false, 400, "M_INVALID_PARAM"},
		{"messages bad token", "GET", base + "/messages?dir=b&from=zzz", nil, false, 400, "M_INVALID_PARAM"},
		{"messages bad limit", "GET", base + "/messages?limit=-3", nil, false, 400, "M_INVALID_PARAM"},
		{"messages bad filter", "GET", base + "/messages?filter=%7Bnope", nil, false, 400, "M_NOT_JSON"},
		{"leave unknown room", "POST", "/rooms/" + esc("!unknown:test") + "/leave", nil, false, 403, "M_FORBIDDEN"},
		{"typing for others", "PUT", base + "/typing/" + esc("@bob:test"), map[string]any{"typing": true}, false, 403, "M_FORBIDDEN"},
		{"typing missing field", "PUT", base + "/typing/" + esc("@alice:test"), map[string]any{}, false, 400, "M_BAD_JSON"},
		{"sync bad since", "GET", "/sync?since=garbage", nil, false, 400, "M_INVALID_PARAM"},
		{"sync bad timeout", "GET", "/sync?timeout=soon", nil, false, 400, "M_INVALID_PARAM"},
		{"sync unknown filter", "GET", "/sync?filter=999", nil, false, 404, "M_NOT_FOUND"},
		{"sync bad inline filter", "GET", "/sync?filter=" + esc(`{"room":{"timeline":{"limit":"ten"}}}`), nil, false, 400, "M_BAD_JSON"},
		{"filter for other user", "POST", "/user/" + esc("@bob:test") + "/filter", map[string]any{}, false, 403, "M_FORBIDDEN"},
		{"filter not json", "POST", "/user/" + esc("@alice:test") + "/filter", "{", false, 400, "M_NOT_JSON"},
		{"filter wrong types", "POST", "/user/" + esc("@alice:test") + "/filter", `{"room": []}`, false, 400, "M_BAD_JSON"},
		{"filter unknown", "GET", "/user/" + esc("@alice:test") + "/filter/77", nil, false, 404, "M_NOT_FOUND"},
		{"account data other user", "PUT", "/user/" + esc("@bob:test") + "/account_data/x", map[string]any{}, false, 403, "M_FORBIDDEN"},
		{"account data not object", "PUT", "/user/" + esc("@alice:test") + "/account_data/x", `[1]`, false, 400, "M_BAD_JSON"},
		{"account data fully_read", "PUT", "/user/" + esc("@alice:test") + "/account_data/m.fully_read", map[string]any{}, false, 400, "M_BAD_JSON"},
		{"account data missing", "GET", "/user/" + esc("@alice:test") + "/account_data/nope", nil, false, 404, "M_NOT_FOUND"},
		{"room account data bad room", "PUT", "/user/" + esc("@alice:test") + "/rooms/nope/account_data/x", map[string]any{}, false, 400, "M_INVALID_PARAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := alice
			if tc.bob {
				u = bob
			}
			st, out := rs.call(t, u, tc.method, tc.path, tc.body)
			if st != tc.status || out.str("errcode") != tc.code {
				t.Errorf("got %d %v, want %d %s", st, out, tc.status, tc.code)
			}
		})
	}
	// Nothing half-written: the failed calls left the room with the
	// messages and state it had.
	s := rs.sync(t, alice, "")
	var msgs int
	for _, e := range s.Rooms.Join[roomID].Timeline.Events {
		if e.Type == "m.room.message" {
			msgs++
		}
	}
	if msgs != 1 {
		t.Errorf("%d messages, want 1", msgs)
	}
}
