package clientapi_test

import (
	"fmt"
	"slices"
	"testing"

	"scop/clientapi/clientapitest"
)

const slidingPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// slidingResp is the part of a sliding sync answer the tests read.
type slidingResp struct {
	Pos   string `json:"pos"`
	Lists map[string]struct {
		Count int `json:"count"`
	} `json:"lists"`
	Rooms      map[string]slidingRoom `json:"rooms"`
	Extensions struct {
		ToDevice *struct {
			NextBatch string `json:"next_batch"`
			Events    []ev   `json:"events"`
		} `json:"to_device"`
		E2EE *struct {
			DeviceLists struct {
				Changed []string `json:"changed"`
				Left    []string `json:"left"`
			} `json:"device_lists"`
			OTKCounts map[string]int `json:"device_one_time_keys_count"`
			Fallback  []string       `json:"device_unused_fallback_key_types"`
		} `json:"e2ee"`
		AccountData *struct {
			Global []ev            `json:"global"`
			Rooms  map[string][]ev `json:"rooms"`
		} `json:"account_data"`
		Receipts *struct {
			Rooms map[string]ev `json:"rooms"`
		} `json:"receipts"`
		Typing *struct {
			Rooms map[string]ev `json:"rooms"`
		} `json:"typing"`
	} `json:"extensions"`
	Errcode string `json:"errcode"`
}

type slidingRoom struct {
	Name   string `json:"name"`
	Heroes []struct {
		UserID string `json:"user_id"`
	} `json:"heroes"`
	IsDM          bool     `json:"is_dm"`
	Initial       bool     `json:"initial"`
	Expanded      bool     `json:"unstable_expanded_timeline"`
	Membership    string   `json:"membership"`
	InLists       []string `json:"lists"`
	RequiredState []ev     `json:"required_state"`
	Timeline      []ev     `json:"timeline"`
	PrevBatch     string   `json:"prev_batch"`
	Limited       bool     `json:"limited"`
	NumLive       *int     `json:"num_live"`
	BumpStamp     int64    `json:"bump_stamp"`
	JoinedCount   *int     `json:"joined_count"`
	InvitedCount  *int     `json:"invited_count"`
	Notifications *int     `json:"notification_count"`
	InviteState   []ev     `json:"invite_state"`
	KnockState    []ev     `json:"knock_state"`
}

// sliding sends one request; query is e.g. "pos=...&timeout=0".
func (rs *roomsServer) sliding(t *testing.T, u clientapitest.User, query string, body any) slidingResp {
	t.Helper()
	var out slidingResp
	if st := rs.Do(t, "POST", slidingPath+"?"+query, u.Token, body, &out); st != 200 {
		t.Fatalf("sliding sync %s: status %d %+v", query, st, out)
	}
	return out
}

// allList asks for every room with a timeline of limit events and the
// given required_state.
func allList(limit int, state ...[2]string) map[string]any {
	rs := [][2]string{}
	rs = append(rs, state...)
	return map[string]any{"lists": map[string]any{"all": map[string]any{
		"ranges": [][2]int{{0, 99}}, "timeline_limit": limit, "required_state": rs}}}
}

func timelineBodies(r slidingRoom) []string {
	var out []string
	for _, e := range r.Timeline {
		if b, ok := e.Content["body"].(string); ok {
			out = append(out, b)
		}
	}
	return out
}

func TestSlidingSyncOrderingAndRanges(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	a := rs.createRoom(t, alice, map[string]any{"name": "A"})
	b := rs.createRoom(t, alice, map[string]any{"name": "B"})
	c := rs.createRoom(t, alice, map[string]any{"name": "C"})
	rs.send(t, alice, a, "A is the most recent")
	// State changes do not bump: B stays below C.
	rs.must(t, alice, "PUT", "/rooms/"+esc(b)+"/state/m.room.topic", map[string]any{"topic": "t"})

	cases := []struct {
		name   string
		ranges [][2]int
		want   []string
	}{
		{"first two", [][2]int{{0, 1}}, []string{a, c}},
		{"third", [][2]int{{2, 2}}, []string{b}},
		{"two ranges", [][2]int{{0, 0}, {2, 2}}, []string{a, b}},
		{"beyond the end", [][2]int{{2, 1000}}, []string{b}},
		{"nothing there", [][2]int{{5, 9}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rs.sliding(t, alice, "", map[string]any{"lists": map[string]any{"l": map[string]any{
				"ranges": tc.ranges, "timeline_limit": 1}}})
			if resp.Lists["l"].Count != 3 {
				t.Errorf("count %d, want 3", resp.Lists["l"].Count)
			}
			var got []string
			for id := range resp.Rooms {
				got = append(got, id)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rooms %v, want %v", got, want)
			}
		})
	}
	resp := rs.sliding(t, alice, "", allList(1))
	if !(resp.Rooms[a].BumpStamp > resp.Rooms[c].BumpStamp && resp.Rooms[c].BumpStamp > resp.Rooms[b].BumpStamp) {
		t.Errorf("bump stamps a=%d c=%d b=%d, want a > c > b", resp.Rooms[a].BumpStamp, resp.Rooms[c].BumpStamp, resp.Rooms[b].BumpStamp)
	}
	if r := resp.Rooms[a]; r.Name != "A" || !r.Initial || r.JoinedCount == nil || *r.JoinedCount != 1 ||
		r.Membership != "join" || !slices.Equal(r.InLists, []string{"all"}) {
		t.Errorf("room A: %+v", r)
	}
}

func TestSlidingSyncRequiredState(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	carol := rs.AddUser(t, "carol", "pw-carol-1234")
	room := rs.createRoom(t, alice, map[string]any{"preset": "public_chat", "name": "Room", "topic": "Topic"})
	rs.must(t, bob, "POST", "/join/"+esc(room), nil)
	rs.must(t, carol, "POST", "/join/"+esc(room), nil)
	rs.send(t, bob, room, "hello from bob")

	keys := func(r slidingRoom) []string {
		var out []string
		for _, e := range r.RequiredState {
			out = append(out, e.Type+"|"+*e.StateKey)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		name  string
		state [][2]string
		want  []string
	}{
		{"one type", [][2]string{{"m.room.name", ""}}, []string{"m.room.name|"}},
		{"me", [][2]string{{"m.room.member", "$ME"}}, []string{"m.room.member|" + alice.UserID}},
		{"lazy members of the timeline", [][2]string{{"m.room.member", "$LAZY"}}, []string{"m.room.member|" + bob.UserID}},
		{"all keys of a type", [][2]string{{"m.room.member", "*"}},
			[]string{"m.room.member|" + alice.UserID, "m.room.member|" + bob.UserID, "m.room.member|" + carol.UserID}},
		{"any type with a key", [][2]string{{"*", carol.UserID}}, []string{"m.room.member|" + carol.UserID}},
		{"absent", [][2]string{{"m.room.tombstone", ""}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rs.sliding(t, alice, "", allList(1, tc.state...))
			if got := keys(resp.Rooms[room]); !slices.Equal(got, tc.want) {
				t.Errorf("required_state %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("everything", func(t *testing.T) {
		resp := rs.sliding(t, alice, "", allList(1, [2]string{"*", "*"}))
		got := keys(resp.Rooms[room])
		for _, k := range []string{"m.room.create|", "m.room.power_levels|", "m.room.topic|", "m.room.join_rules|"} {
			if !slices.Contains(got, k) {
				t.Errorf("%s missing from %v", k, got)
			}
		}
	})
	t.Run("latest revision: include, exclude, lazy_members", func(t *testing.T) {
		body := map[string]any{"lists": map[string]any{"all": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 1,
			"required_state": map[string]any{"include": []any{map[string]any{}},
				"exclude": []any{map[string]any{"type": "m.room.member"}}, "lazy_members": true}}}}
		got := keys(rs.sliding(t, alice, "", body).Rooms[room])
		if !slices.Contains(got, "m.room.create|") || !slices.Contains(got, "m.room.member|"+bob.UserID) ||
			slices.Contains(got, "m.room.member|"+carol.UserID) {
			t.Errorf("required_state %v, want all but members, bob lazily", got)
		}
		// Another list including what this one excludes wins.
		body["lists"].(map[string]any)["members"] = map[string]any{"ranges": [][2]int{{0, 9}},
			"required_state": [][2]string{{"m.room.member", carol.UserID}}}
		if got := keys(rs.sliding(t, alice, "", body).Rooms[room]); !slices.Contains(got, "m.room.member|"+carol.UserID) {
			t.Errorf("union lost carol: %v", got)
		}
	})
	t.Run("only changes afterwards", func(t *testing.T) {
		spec := allList(1, [2]string{"m.room.name", ""}, [2]string{"m.room.topic", ""})
		first := rs.sliding(t, alice, "", spec)
		rs.must(t, alice, "PUT", "/rooms/"+esc(room)+"/state/m.room.topic", map[string]any{"topic": "New"})
		next := rs.sliding(t, alice, "timeout=0&pos="+first.Pos, spec)
		r := next.Rooms[room]
		if got := keys(r); !slices.Equal(got, []string{"m.room.topic|"}) || r.Initial {
			t.Errorf("incremental required_state %v initial=%v, want only the new topic", got, r.Initial)
		}
		if r.Name != "" {
			t.Errorf("unchanged name sent again: %q", r.Name)
		}
	})
}

func TestSlidingSyncTimelineLimit(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	room := rs.createRoom(t, alice, nil)
	for i := range 5 {
		rs.send(t, alice, room, fmt.Sprintf("m%d", i))
	}
	cases := []struct {
		limit   int
		want    []string
		limited bool
	}{
		{3, []string{"m2", "m3", "m4"}, true},
		{1, []string{"m4"}, true},
		{50, []string{"m0", "m1", "m2", "m3", "m4"}, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			r := rs.sliding(t, alice, "", allList(tc.limit)).Rooms[room]
			if got := timelineBodies(r); !slices.Equal(got, tc.want) || r.Limited != tc.limited {
				t.Errorf("timeline %v limited=%v, want %v limited=%v", got, r.Limited, tc.want, tc.limited)
			}
			if r.PrevBatch == "" {
				t.Error("no prev_batch")
			}
		})
	}
	t.Run("prev_batch pages back with /messages", func(t *testing.T) {
		r := rs.sliding(t, alice, "", allList(2)).Rooms[room]
		out := rs.must(t, alice, "GET", "/rooms/"+esc(room)+"/messages?dir=b&limit=1&from="+r.PrevBatch, nil)
		chunk, _ := out["chunk"].([]any)
		if len(chunk) != 1 || chunk[0].(map[string]any)["content"].(map[string]any)["body"] != "m2" {
			t.Errorf("messages before the timeline: %v", chunk)
		}
	})
	t.Run("a larger limit resends the room", func(t *testing.T) {
		first := rs.sliding(t, alice, "", allList(1))
		next := rs.sliding(t, alice, "timeout=0&pos="+first.Pos, map[string]any{
			"lists":              allList(1)["lists"],
			"room_subscriptions": map[string]any{room: map[string]any{"timeline_limit": 3}},
		})
		r := next.Rooms[room]
		if got := timelineBodies(r); r.Initial || !r.Expanded || !slices.Equal(got, []string{"m2", "m3", "m4"}) {
			t.Errorf("expanded: initial=%v expanded=%v timeline %v", r.Initial, r.Expanded, got)
		}
	})
}

func TestSlidingSyncDeltas(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	a := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	b := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(b), nil)
	body := allList(5)
	s0 := rs.sliding(t, alice, "", body)
	if len(s0.Rooms) != 2 {
		t.Fatalf("initial rooms %d, want 2", len(s0.Rooms))
	}
	s1 := rs.sliding(t, alice, "timeout=0&pos="+s0.Pos, body)
	if len(s1.Rooms) != 0 || s1.Lists["all"].Count != 2 {
		t.Errorf("nothing changed but got rooms %v count %d", s1.Rooms, s1.Lists["all"].Count)
	}
	rs.send(t, bob, b, "new in b")
	s2 := rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, body)
	r, ok := s2.Rooms[b]
	if len(s2.Rooms) != 1 || !ok {
		t.Fatalf("rooms %v, want only %s", s2.Rooms, b)
	}
	if got := timelineBodies(r); r.Initial || !slices.Equal(got, []string{"new in b"}) || r.NumLive == nil || *r.NumLive != 1 {
		t.Errorf("delta: initial=%v timeline=%v num_live=%v", r.Initial, got, r.NumLive)
	}
	if r.Notifications == nil || *r.Notifications != 1 {
		t.Errorf("notification_count %v, want 1", r.Notifications)
	}
	if s2.Rooms[b].BumpStamp <= s0.Rooms[a].BumpStamp {
		t.Errorf("bump_stamp of b did not move above a")
	}
	t.Run("an older pos replays the same delta", func(t *testing.T) {
		again := rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, body)
		if got := timelineBodies(again.Rooms[b]); !slices.Equal(got, []string{"new in b"}) {
			t.Errorf("retry from the previous pos: %v", got)
		}
	})
	t.Run("a room out of range catches up when it comes back", func(t *testing.T) {
		one := map[string]any{"lists": map[string]any{"all": map[string]any{"ranges": [][2]int{{0, 0}}, "timeline_limit": 5}}}
		p := rs.sliding(t, alice, "timeout=0&pos="+s2.Pos, one) // only b, the most recent
		rs.send(t, alice, a, "a1")                              // a moves to the top
		rs.send(t, bob, b, "b2")                                // b on top again, a out of range
		q := rs.sliding(t, alice, "timeout=0&pos="+p.Pos, one)
		if _, ok := q.Rooms[a]; ok || len(q.Rooms) != 1 {
			t.Fatalf("rooms %v, want only b", q.Rooms)
		}
		rs.send(t, alice, a, "a2")
		w := rs.sliding(t, alice, "timeout=0&pos="+q.Pos, one)
		if got := timelineBodies(w.Rooms[a]); w.Rooms[a].Initial || !slices.Equal(got, []string{"a1", "a2"}) {
			t.Errorf("catch-up of a: initial=%v %v, want [a1 a2]", w.Rooms[a].Initial, got)
		}
	})
	t.Run("a left room comes once with the leave", func(t *testing.T) {
		p := rs.sliding(t, alice, "", body)
		rs.must(t, alice, "POST", "/rooms/"+esc(a)+"/leave", map[string]any{})
		q := rs.sliding(t, alice, "timeout=0&pos="+p.Pos, body)
		r, ok := q.Rooms[a]
		if !ok || len(r.Timeline) == 0 || r.Timeline[len(r.Timeline)-1].Content["membership"] != "leave" {
			t.Fatalf("left room: %+v", r)
		}
		if w := rs.sliding(t, alice, "timeout=0&pos="+q.Pos, body); w.Lists["all"].Count != 1 {
			t.Errorf("count after the leave %d, want 1", w.Lists["all"].Count)
		}
	})
}

func TestSlidingSyncKickedAndBanned(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	kicked := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	banned := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	left := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	for _, r := range []string{kicked, banned, left} {
		rs.must(t, bob, "POST", "/join/"+esc(r), nil)
	}
	rs.must(t, alice, "POST", "/rooms/"+esc(kicked)+"/kick", map[string]any{"user_id": bob.UserID})
	rs.must(t, alice, "POST", "/rooms/"+esc(banned)+"/ban", map[string]any{"user_id": bob.UserID})
	rs.must(t, bob, "POST", "/rooms/"+esc(left)+"/leave", map[string]any{})
	// A new connection lists the rooms bob was kicked or banned from (he
	// may not know), not the one he left himself.
	resp := rs.sliding(t, bob, "", allList(5))
	if resp.Lists["all"].Count != 2 || resp.Rooms[kicked].Membership != "leave" || resp.Rooms[banned].Membership != "ban" {
		t.Errorf("count %d, rooms %+v", resp.Lists["all"].Count, resp.Rooms)
	}
	if _, ok := resp.Rooms[left]; ok {
		t.Error("room left by bob himself listed")
	}
}

func TestSlidingSyncKnock(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	room := rs.createRoom(t, alice, map[string]any{"room_version": "10", "initial_state": []any{map[string]any{
		"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
	rs.must(t, bob, "POST", "/knock/"+esc(room), map[string]any{})
	s0 := rs.sliding(t, bob, "", allList(5))
	r, ok := s0.Rooms[room]
	if !ok || r.Membership != "knock" || len(r.KnockState) == 0 || len(r.Timeline) != 0 {
		t.Fatalf("knocked room: %+v", r)
	}
	if s1 := rs.sliding(t, bob, "timeout=0&pos="+s0.Pos, allList(5)); len(s1.Rooms) != 0 {
		t.Errorf("knock sent again: %v", s1.Rooms)
	}
}

func TestSlidingSyncUnknownPos(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	alice2 := rs.AddUser2(t, "alice", "pw-alice-123")
	s0 := rs.sliding(t, alice, "", map[string]any{"conn_id": "main"})
	cases := []struct {
		name, pos, connID string
		user              clientapitest.User
	}{
		{"garbage", "garbage", "main", alice},
		{"unknown sequence", s0.Pos + "9", "main", alice},
		{"other conn_id", s0.Pos, "other", alice},
		{"other device", s0.Pos, "main", alice2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out slidingResp
			st := rs.Do(t, "POST", slidingPath+"?timeout=0&pos="+tc.pos, tc.user.Token, map[string]any{"conn_id": tc.connID}, &out)
			if st != 400 || out.Errcode != "M_UNKNOWN_POS" {
				t.Errorf("status %d errcode %q, want 400 M_UNKNOWN_POS", st, out.Errcode)
			}
		})
	}
	t.Run("a new connection forgets the old", func(t *testing.T) {
		rs.sliding(t, alice, "", map[string]any{"conn_id": "main"})
		var out slidingResp
		if st := rs.Do(t, "POST", slidingPath+"?pos="+s0.Pos, alice.Token, map[string]any{"conn_id": "main"}, &out); st != 400 || out.Errcode != "M_UNKNOWN_POS" {
			t.Errorf("status %d %q", st, out.Errcode)
		}
	})
}

func TestSlidingSyncLongPoll(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	room := rs.createRoom(t, alice, nil)
	body := allList(5)
	s0 := rs.sliding(t, alice, "", body)
	done := make(chan slidingResp, 1)
	go func() {
		var out slidingResp
		rs.Do(t, "POST", slidingPath+"?timeout=20000&pos="+s0.Pos, alice.Token, body, &out)
		done <- out
	}()
	rs.send(t, alice, room, "wake up")
	got := <-done
	if b := timelineBodies(got.Rooms[room]); !slices.Equal(b, []string{"wake up"}) {
		t.Errorf("long poll answered %v", b)
	}
}

func TestSlidingSyncInvitesAndFilters(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	plain := rs.createRoom(t, alice, nil)
	enc := rs.createRoom(t, alice, map[string]any{"initial_state": []any{map[string]any{
		"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
	space := rs.createRoom(t, alice, map[string]any{"creation_content": map[string]any{"type": "m.space"}})
	dm := rs.createRoom(t, bob, map[string]any{"invite": []string{alice.UserID}, "is_direct": true, "name": "DM"})
	rs.must(t, alice, "PUT", "/user/"+esc(alice.UserID)+"/rooms/"+esc(enc)+"/tags/m.favourite", map[string]any{"order": 0.5})

	cases := []struct {
		name    string
		filters map[string]any
		want    []string
	}{
		{"invites", map[string]any{"is_invite": true}, []string{dm}},
		{"not invites", map[string]any{"is_invite": false}, []string{plain, enc, space}},
		{"invited (latest name)", map[string]any{"is_invited": true}, []string{dm}},
		{"tagged", map[string]any{"tags": []string{"m.favourite"}}, []string{enc}},
		{"not tagged", map[string]any{"not_tags": []string{"m.favourite"}, "is_invite": false}, []string{plain, space}},
		{"encrypted", map[string]any{"is_encrypted": true}, []string{enc}},
		{"dm", map[string]any{"is_dm": true}, []string{dm}},
		{"spaces only", map[string]any{"room_types": []any{"m.space"}}, []string{space}},
		{"no spaces", map[string]any{"not_room_types": []any{"m.space"}}, []string{plain, enc, dm}},
		{"untyped rooms", map[string]any{"room_types": []any{nil}}, []string{plain, enc, dm}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rs.sliding(t, alice, "", map[string]any{"lists": map[string]any{"l": map[string]any{
				"ranges": [][2]int{{0, 20}}, "filters": tc.filters}}})
			var got []string
			for id := range resp.Rooms {
				got = append(got, id)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) || resp.Lists["l"].Count != len(want) {
				t.Errorf("rooms %v count %d, want %v", got, resp.Lists["l"].Count, want)
			}
		})
	}
	inv := rs.sliding(t, alice, "", allList(5)).Rooms[dm]
	if len(inv.InviteState) == 0 || len(inv.Timeline) != 0 || !inv.IsDM {
		t.Errorf("invite: %+v", inv)
	}
}

func TestSlidingSyncBadInput(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	cases := []struct {
		name, query, body, code string
	}{
		{"not json", "", `{"lists":`, "M_NOT_JSON"},
		{"not an object", "", `[1]`, "M_BAD_JSON"},
		{"lists not an object", "", `{"lists":[]}`, "M_BAD_JSON"},
		{"range of one number", "", `{"lists":{"a":{"ranges":[[0]]}}}`, "M_INVALID_PARAM"},
		{"reversed range", "", `{"lists":{"a":{"ranges":[[5,1]]}}}`, "M_INVALID_PARAM"},
		{"negative range", "", `{"lists":{"a":{"ranges":[[-1,3]]}}}`, "M_INVALID_PARAM"},
		{"range of strings", "", `{"lists":{"a":{"ranges":[["0","9"]]}}}`, "M_BAD_JSON"},
		{"range beyond int64", "", `{"lists":{"a":{"ranges":[[0,1e30]]}}}`, "M_BAD_JSON"},
		{"required_state of three", "", `{"lists":{"a":{"ranges":[[0,1]],"required_state":[["a","b","c"]]}}}`, "M_INVALID_PARAM"},
		{"negative timeline_limit", "", `{"lists":{"a":{"ranges":[[0,1]],"timeline_limit":-1}}}`, "M_INVALID_PARAM"},
		{"filters of wrong type", "", `{"lists":{"a":{"filters":{"is_dm":"yes"}}}}`, "M_BAD_JSON"},
		{"bad subscription room", "", `{"room_subscriptions":{"not-a-room":{}}}`, "M_INVALID_PARAM"},
		{"bad to_device since", "", `{"extensions":{"to_device":{"enabled":true,"since":"x"}}}`, "M_INVALID_PARAM"},
		{"bad timeout", "timeout=soon", `{}`, "M_INVALID_PARAM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out slidingResp
			st := rs.Do(t, "POST", slidingPath+"?"+tc.query, alice.Token, tc.body, &out)
			if st != 400 || out.Errcode != tc.code {
				t.Errorf("status %d errcode %q, want 400 %s", st, out.Errcode, tc.code)
			}
		})
	}
	t.Run("huge range is fine", func(t *testing.T) {
		rs.sliding(t, alice, "", `{"lists":{"a":{"ranges":[[0,9223372036854775807]],"timeline_limit":1000000}}}`)
	})
	t.Run("the MSC's latest revision: range, pos and timeout in the body", func(t *testing.T) {
		s0 := rs.sliding(t, alice, "", `{"lists":{"a":{"range":[0,0]}}}`)
		if s0.Lists["a"].Count != 0 {
			t.Errorf("count %d", s0.Lists["a"].Count)
		}
		rs.sliding(t, alice, "", fmt.Sprintf(`{"pos":%q,"timeout":0,"lists":{"a":{"range":[0,0]}}}`, s0.Pos))
		var out slidingResp
		if st := rs.Do(t, "POST", slidingPath, alice.Token, `{"lists":{"a":{"range":[0]}}}`, &out); st != 400 || out.Errcode != "M_INVALID_PARAM" {
			t.Errorf("bad range: %d %s", st, out.Errcode)
		}
		if st := rs.Do(t, "POST", slidingPath, alice.Token, `{"pos":"nope"}`, &out); st != 400 || out.Errcode != "M_UNKNOWN_POS" {
			t.Errorf("unknown body pos: %d %s", st, out.Errcode)
		}
	})
	t.Run("unknown fields are ignored", func(t *testing.T) {
		rs.sliding(t, alice, "", `{"lists":{"a":{"ranges":[[0,1]],"include_heroes":true,"future":{}}},"future":1}`)
	})
	if st := rs.Do(t, "POST", slidingPath, "", `{}`, nil); st != 401 {
		t.Errorf("without token: %d", st)
	}
}

func TestSlidingSyncIsAdvertised(t *testing.T) {
	rs := newToDeviceServer(t)
	var out struct {
		Unstable map[string]bool `json:"unstable_features"`
	}
	rs.Do(t, "GET", "/_matrix/client/versions", "", nil, &out)
	if !out.Unstable["org.matrix.simplified_msc3575"] {
		t.Errorf("unstable_features %v", out.Unstable)
	}
}

func TestSlidingSyncStickySubscriptions(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	sub := rs.createRoom(t, alice, nil)
	top := rs.createRoom(t, alice, nil)
	noList := map[string]any{}
	s0 := rs.sliding(t, alice, "", map[string]any{"room_subscriptions": map[string]any{sub: map[string]any{"timeline_limit": 1}}})
	if _, ok := s0.Rooms[sub]; !ok || len(s0.Rooms) != 1 {
		t.Fatalf("subscribed rooms %v", s0.Rooms)
	}
	rs.send(t, alice, sub, "still subscribed")
	rs.send(t, alice, top, "not subscribed")
	s1 := rs.sliding(t, alice, "timeout=0&pos="+s0.Pos, noList)
	if got := timelineBodies(s1.Rooms[sub]); !slices.Equal(got, []string{"still subscribed"}) || len(s1.Rooms) != 1 {
		t.Errorf("subscription not kept: %v", s1.Rooms)
	}
	s2 := rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, map[string]any{"unsubscribe_rooms": []string{sub}})
	rs.send(t, alice, sub, "after unsubscribing")
	if s3 := rs.sliding(t, alice, "timeout=0&pos="+s2.Pos, noList); len(s3.Rooms) != 0 {
		t.Errorf("unsubscribed room sent: %v", s3.Rooms)
	}
}

func TestSlidingSyncLongPollTimesOut(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	rs.createRoom(t, alice, nil)
	body := allList(1)
	s0 := rs.sliding(t, alice, "", body)
	s1 := rs.sliding(t, alice, "timeout=30&pos="+s0.Pos, body)
	if len(s1.Rooms) != 0 || s1.Pos == "" || s1.Lists["all"].Count != 1 {
		t.Errorf("empty long poll answered %+v", s1)
	}
	// The new pos works like the old one.
	rs.sliding(t, alice, "timeout=0&pos="+s1.Pos, body)
}

// TestSlidingSyncGrowingRange follows Element X's start: a small window,
// then a larger one, which brings only the rooms not sent yet.
func TestSlidingSyncGrowingRange(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	var ids []string
	for i := range 5 {
		ids = append(ids, rs.createRoom(t, alice, map[string]any{"name": fmt.Sprint("r", i)}))
	}
	window := func(end int) map[string]any {
		return map[string]any{"lists": map[string]any{"all_rooms": map[string]any{"ranges": [][2]int{{0, end}}, "timeline_limit": 1}}}
	}
	s0 := rs.sliding(t, alice, "", window(1))
	if len(s0.Rooms) != 2 || s0.Lists["all_rooms"].Count != 5 {
		t.Fatalf("first window: %d rooms, count %d", len(s0.Rooms), s0.Lists["all_rooms"].Count)
	}
	s1 := rs.sliding(t, alice, "timeout=10000&pos="+s0.Pos, window(4)) // answers at once: new rooms in range
	if len(s1.Rooms) != 3 {
		t.Fatalf("grown window sent %d rooms, want the 3 not sent", len(s1.Rooms))
	}
	for id := range s0.Rooms {
		if _, again := s1.Rooms[id]; again {
			t.Errorf("room %s sent again", id)
		}
	}
	for _, r := range s1.Rooms {
		if !r.Initial {
			t.Error("a room new to the connection without initial")
		}
	}
}
