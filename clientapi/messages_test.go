package clientapi_test

import (
	"fmt"
	"testing"
)

// messagesResp is the body of /messages.
type messagesResp struct {
	Chunk []ev   `json:"chunk"`
	Start string `json:"start"`
	End   string `json:"end"`
	State []ev   `json:"state"`
}

func TestMessagesPagination(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{"name": "history"})
	var ids []string
	for i := range 25 {
		ids = append(ids, rs.send(t, alice, roomID, fmt.Sprintf("m%d", i)))
	}
	get := func(query string) messagesResp {
		t.Helper()
		var out messagesResp
		if st := rs.Do(t, "GET", "/_matrix/client/v3/rooms/"+esc(roomID)+"/messages?"+query, alice.Token, nil, &out); st != 200 {
			t.Fatalf("messages %s: %d", query, st)
		}
		return out
	}
	// Backwards from the live edge, pages of 10, until no end token.
	var seen []string
	from := ""
	for page := 0; ; page++ {
		q := "dir=b&limit=10"
		if from != "" {
			q += "&from=" + from
		}
		m := get(q)
		for _, e := range m.Chunk {
			if e.Type == "m.room.message" {
				seen = append(seen, e.EventID)
			}
		}
		if m.End == "" {
			break
		}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		from = m.End
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d messages backwards, want 25", len(seen))
	}
	for i, id := range seen {
		if id != ids[24-i] {
			t.Fatalf("backwards order broken at %d", i)
		}
	}
	// Forwards from the sync's prev_batch of a limited timeline.
	s := rs.sync(t, alice, "filter="+esc(`{"room":{"timeline":{"limit":3}}}`))
	tl := s.Rooms.Join[roomID].Timeline
	if !tl.Limited || len(tl.Events) != 3 || tl.Events[2].EventID != ids[24] {
		t.Fatalf("limited timeline %+v", tl)
	}
	back := get("dir=b&limit=2&from=" + tl.PrevBatch)
	if len(back.Chunk) != 2 || back.Chunk[0].EventID != ids[21] {
		t.Errorf("from prev_batch got %+v", back.Chunk)
	}
	fwd := get("dir=f&limit=5&from=" + back.End)
	if len(fwd.Chunk) != 5 || fwd.Chunk[0].EventID != ids[20] || fwd.Chunk[4].EventID != ids[24] {
		t.Errorf("forwards got %d events", len(fwd.Chunk))
	}
	// A filter on type, and the to bound.
	only := get("dir=b&limit=50&filter=" + esc(`{"types":["m.room.name"]}`))
	if len(only.Chunk) != 1 || only.Chunk[0].Type != "m.room.name" {
		t.Errorf("type filter got %+v", only.Chunk)
	}
	bounded := get("dir=f&limit=50&from=" + back.End + "&to=" + tl.PrevBatch)
	if len(bounded.Chunk) != 2 {
		t.Errorf("to-bounded got %d events, want 2", len(bounded.Chunk))
	}
}

func TestEventContextRedact(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, nil)
	var ids []string
	for i := range 7 {
		ids = append(ids, rs.send(t, alice, roomID, fmt.Sprintf("c%d", i)))
	}
	base := "/rooms/" + esc(roomID)
	e := rs.must(t, alice, "GET", base+"/event/"+esc(ids[3]), nil)
	if e.str("event_id") != ids[3] || e["content"].(map[string]any)["body"] != "c3" {
		t.Errorf("event %v", e)
	}
	c := rs.must(t, alice, "GET", base+"/context/"+esc(ids[3])+"?limit=4", nil)
	before, after := c["events_before"].([]any), c["events_after"].([]any)
	if len(before) != 2 || len(after) != 2 || before[0].(map[string]any)["event_id"] != ids[2] ||
		after[0].(map[string]any)["event_id"] != ids[4] {
		t.Errorf("context before %d after %d", len(before), len(after))
	}
	if st, _ := c["state"].([]any); len(st) < 5 {
		t.Errorf("context state has %d events", len(st))
	}
	red := rs.must(t, alice, "PUT", base+"/redact/"+esc(ids[3])+"/red1", map[string]any{"reason": "oops"}).str("event_id")
	if red == "" {
		t.Fatal("no redaction event ID")
	}
	again := rs.must(t, alice, "PUT", base+"/redact/"+esc(ids[3])+"/red1", map[string]any{"reason": "oops"}).str("event_id")
	if again != red {
		t.Errorf("redaction txn not idempotent: %s vs %s", red, again)
	}
	e = rs.must(t, alice, "GET", base+"/event/"+esc(ids[3]), nil)
	if len(e["content"].(map[string]any)) != 0 {
		t.Errorf("redacted content %v", e["content"])
	}
	if u, _ := e["unsigned"].(map[string]any); u["redacted_because"] == nil {
		t.Errorf("no redacted_because: %v", e["unsigned"])
	}
	// Sync shows the redacted copy too (the in-memory cache was updated).
	for _, ev := range rs.sync(t, alice, "").Rooms.Join[roomID].Timeline.Events {
		if ev.EventID == ids[3] && len(ev.Content) != 0 {
			t.Errorf("sync shows unredacted content %v", ev.Content)
		}
	}
}

func TestHistoryVisibility(t *testing.T) {
	for _, tc := range []struct {
		visibility string
		seesBefore bool
	}{{"shared", true}, {"joined", false}, {"invited", false}, {"world_readable", true}} {
		t.Run(tc.visibility, func(t *testing.T) {
			rs := newRoomsServer(t)
			alice := rs.AddUser(t, "alice", "pw-alice-123")
			bob := rs.AddUser(t, "bob", "pw-bob-12345")
			roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
				{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": tc.visibility}}}})
			before := rs.send(t, alice, roomID, "before bob")
			rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
			after := rs.send(t, alice, roomID, "after bob")
			var m messagesResp
			if st := rs.Do(t, "GET", "/_matrix/client/v3/rooms/"+esc(roomID)+"/messages?dir=b&limit=50", bob.Token, nil, &m); st != 200 {
				t.Fatalf("messages: %d", st)
			}
			seen := map[string]bool{}
			for _, e := range m.Chunk {
				seen[e.EventID] = true
			}
			if !seen[after] || seen[before] != tc.seesBefore {
				t.Errorf("sees after=%v before=%v, want before=%v", seen[after], seen[before], tc.seesBefore)
			}
			st, _ := rs.call(t, bob, "GET", "/rooms/"+esc(roomID)+"/event/"+esc(before), nil)
			if (st == 200) != tc.seesBefore {
				t.Errorf("GET event before join: %d", st)
			}
			s := rs.sync(t, bob, "")
			seen = map[string]bool{}
			for _, e := range s.Rooms.Join[roomID].Timeline.Events {
				seen[e.EventID] = true
			}
			if seen[before] && !tc.seesBefore {
				t.Error("initial sync shows history from before the join")
			}
		})
	}
}
