package clientapi_test

import (
	"testing"
	"time"
)

func TestSyncFiltersAndAccountData(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{"name": "filtered"})
	for range 5 {
		rs.send(t, alice, roomID, "x")
	}
	f := rs.must(t, alice, "POST", "/user/"+esc(alice.UserID)+"/filter",
		map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 2}, "state": map[string]any{"types": []string{"m.room.name"}}}})
	fid := f.str("filter_id")
	got := rs.must(t, alice, "GET", "/user/"+esc(alice.UserID)+"/filter/"+fid, nil)
	if got["room"] == nil {
		t.Errorf("stored filter %v", got)
	}
	s := rs.sync(t, alice, "filter="+fid)
	room := s.Rooms.Join[roomID]
	if len(room.Timeline.Events) != 2 || !room.Timeline.Limited || room.Timeline.PrevBatch == "" {
		t.Errorf("timeline %d events limited=%v", len(room.Timeline.Events), room.Timeline.Limited)
	}
	for _, e := range room.State.Events {
		if e.Type != "m.room.name" {
			t.Errorf("state filter let %s through", e.Type)
		}
	}

	// Account data, global and per room, arrives in sync once.
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/account_data/m.direct", map[string]any{"@bob:test": []string{roomID}})
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/rooms/"+esc(roomID)+"/account_data/m.tag", map[string]any{"tags": map[string]any{}})
	if c := rs.must(t, alice, "GET", "/user/"+esc(alice.UserID)+"/account_data/m.direct", nil); c["@bob:test"] == nil {
		t.Errorf("account data %v", c)
	}
	s2 := rs.sync(t, alice, "timeout=0&filter="+fid+"&since="+s.NextBatch)
	if findEvent(s2.AccountData.Events, "m.direct") == nil {
		t.Errorf("global account data missing: %+v", s2.AccountData)
	}
	if findEvent(s2.Rooms.Join[roomID].AccountData.Events, "m.tag") == nil {
		t.Errorf("room account data missing: %+v", s2.Rooms.Join[roomID])
	}
	s3 := rs.sync(t, alice, "timeout=0&since="+s2.NextBatch)
	if len(s3.AccountData.Events) != 0 || len(s3.Rooms.Join) != 0 {
		t.Errorf("account data repeated: %+v", s3)
	}
	// An initial sync with an inline filter returns the account data.
	s4 := rs.sync(t, alice, "filter="+esc(`{"room":{"timeline":{"limit":1}}}`))
	if findEvent(s4.AccountData.Events, "m.direct") == nil || len(s4.Rooms.Join[roomID].Timeline.Events) != 1 {
		t.Errorf("initial sync with inline filter: %+v", s4)
	}
	// full_state returns the state of an unchanged room.
	s5 := rs.sync(t, alice, "timeout=0&full_state=true&since="+s3.NextBatch)
	if len(s5.Rooms.Join[roomID].State.Events) == 0 {
		t.Error("full_state returned no state")
	}
}

func TestSyncTypingWakesLongPoll(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	s := rs.sync(t, bob, "")
	done := make(chan syncResp, 1)
	go func() { done <- rs.sync(t, bob, "timeout=20000&since="+s.NextBatch) }()
	time.Sleep(30 * time.Millisecond)
	rs.must(t, alice, "PUT", "/rooms/"+esc(roomID)+"/typing/"+esc(alice.UserID), map[string]any{"typing": true, "timeout": 30000})
	select {
	case s2 := <-done:
		typing := findEvent(s2.Rooms.Join[roomID].Ephemeral.Events, "m.typing")
		if typing == nil {
			t.Fatalf("no m.typing: %+v", s2.Rooms.Join[roomID])
		}
		if ids, _ := typing.Content["user_ids"].([]any); len(ids) != 1 || ids[0] != alice.UserID {
			t.Errorf("typing users %v", typing.Content)
		}
		rs.must(t, alice, "PUT", "/rooms/"+esc(roomID)+"/typing/"+esc(alice.UserID), map[string]any{"typing": false})
		s3 := rs.sync(t, bob, "timeout=0&since="+s2.NextBatch)
		typing = findEvent(s3.Rooms.Join[roomID].Ephemeral.Events, "m.typing")
		if typing == nil || len(typing.Content["user_ids"].([]any)) != 0 {
			t.Errorf("stop typing not synced: %+v", s3.Rooms.Join[roomID].Ephemeral)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("typing did not wake the long poll")
	}
}

func TestSyncLongPollTimesOut(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	s := rs.sync(t, alice, "")
	start := time.Now()
	s2 := rs.sync(t, alice, "timeout=100&since="+s.NextBatch)
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Errorf("returned after %v, before the timeout", el)
	}
	if s2.NextBatch == "" {
		t.Error("no next_batch")
	}
}

func TestSyncLazyLoadMembers(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	carol := rs.AddUser(t, "carol", "pw-carol-123")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	rs.must(t, carol, "POST", "/join/"+esc(roomID), nil)
	lazy := esc(`{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}`)
	rs.send(t, bob, roomID, "from bob")
	s := rs.sync(t, alice, "filter="+lazy)
	members := map[string]bool{}
	for _, e := range s.Rooms.Join[roomID].State.Events {
		if e.Type == "m.room.member" {
			members[*e.StateKey] = true
		}
	}
	if !members[bob.UserID] || !members[alice.UserID] || members[carol.UserID] {
		t.Errorf("lazy initial members %v: want bob (sender) and alice (self), not carol", members)
	}
	rs.send(t, carol, roomID, "from carol")
	s2 := rs.sync(t, alice, "timeout=0&filter="+lazy+"&since="+s.NextBatch)
	if m := findEvent(s2.Rooms.Join[roomID].State.Events, "m.room.member"); m == nil || *m.StateKey != carol.UserID {
		t.Errorf("incremental lazy sync lacks carol's member event: %+v", s2.Rooms.Join[roomID].State.Events)
	}
}

func TestSyncQueryParams(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	for _, tc := range []struct {
		query   string
		status  int
		errcode string
	}{
		{"timeout=0&set_presence=online", 200, ""},
		{"timeout=0&set_presence=offline", 200, ""},
		{"timeout=0&set_presence=unavailable", 200, ""},
		{"timeout=0&set_presence=nonsense", 400, "M_INVALID_PARAM"},
		{"timeout=0&set_presence=Online", 400, "M_INVALID_PARAM"},
		{"timeout=0&full_state=maybe", 400, "M_INVALID_PARAM"},
		{"timeout=abc", 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			st, out := rs.call(t, alice, "GET", "/sync?"+tc.query, nil)
			if st != tc.status || out.str("errcode") != tc.errcode {
				t.Errorf("status %d %v, want %d %s", st, out, tc.status, tc.errcode)
			}
		})
	}
}

func TestSyncKeyCounts(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	type counts struct {
		OTK      map[string]int `json:"device_one_time_keys_count"`
		Fallback []string       `json:"device_unused_fallback_key_types"`
	}
	get := func(t *testing.T, query string) counts {
		t.Helper()
		var c counts
		if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?"+query, alice.Token, nil, &c); st != 200 {
			t.Fatalf("sync status %d", st)
		}
		return c
	}
	c := get(t, "timeout=0")
	if c.OTK == nil || len(c.OTK) != 0 || c.Fallback == nil || len(c.Fallback) != 0 {
		t.Fatalf("before upload: %+v (want present and empty)", c)
	}
	since := rs.sync(t, alice, "timeout=0").NextBatch
	rs.Do(t, "POST", "/_matrix/client/v3/keys/upload", alice.Token, map[string]any{
		"one_time_keys": map[string]any{"signed_curve25519:A": "k", "signed_curve25519:B": "k2", "curve25519:C": "k3"},
		"fallback_keys": map[string]any{"signed_curve25519:F": "f"}}, nil)
	for _, tc := range []struct{ name, query string }{
		{"initial", "timeout=0"},
		{"incremental", "timeout=0&since=" + since},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := get(t, tc.query)
			if c.OTK["signed_curve25519"] != 2 || c.OTK["curve25519"] != 1 || len(c.Fallback) != 1 || c.Fallback[0] != "signed_curve25519" {
				t.Errorf("counts %+v", c)
			}
		})
	}
}
