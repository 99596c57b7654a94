package clientapi_test

import "testing"

// TestCreateRoomTopicContent checks the m.room.topic createRoom writes:
// the plain topic plus the spec's m.topic text block, an object holding
// m.text (v1.15), which clients such as mautrix decode strictly.
func TestCreateRoomTopicContent(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{"topic": "Builds of main"})
	got := rs.must(t, alice, "GET", "/rooms/"+esc(roomID)+"/state/m.room.topic", nil)
	if got.str("topic") != "Builds of main" {
		t.Errorf("topic = %v", got["topic"])
	}
	block, _ := got["m.topic"].(map[string]any)
	texts, _ := block["m.text"].([]any)
	if len(texts) != 1 {
		t.Fatalf("m.topic = %#v, want {\"m.text\": [one block]}", got["m.topic"])
	}
	if first, _ := texts[0].(map[string]any); first["body"] != "Builds of main" || first["mimetype"] != "text/plain" {
		t.Errorf("m.text[0] = %#v", texts[0])
	}
}
