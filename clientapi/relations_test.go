package clientapi_test

import (
	"fmt"
	"slices"
	"testing"

	"scop/clientapi/clientapitest"
)

func TestRelations(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	eve := rs.AddUser(t, "eve", "pw-eve-12345")
	roomID := rs.createRoom(t, alice, nil)
	root := rs.send(t, alice, roomID, "root")
	sendRel := func(typ string, content map[string]any) string {
		txnSeq++
		return rs.must(t, alice, "PUT", fmt.Sprintf("/rooms/%s/send/%s/r%d", esc(roomID), typ, txnSeq), content).str("event_id")
	}
	edit := sendRel("m.room.message", map[string]any{"msgtype": "m.text", "body": "* root2",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "root2"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": root}})
	rs.send(t, alice, roomID, "unrelated")
	reply := sendRel("m.room.message", map[string]any{"msgtype": "m.text", "body": "in thread",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
	react := sendRel("m.reaction", map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": root, "key": "+1"}})
	// A rich reply (no rel_type) is not a relation of root.
	sendRel("m.room.message", map[string]any{"msgtype": "m.text", "body": "re",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": root}}})

	base := "/_matrix/client/v1/rooms/" + esc(roomID) + "/relations/"
	type page struct {
		Chunk     []ev   `json:"chunk"`
		NextBatch string `json:"next_batch"`
		Errcode   string `json:"errcode"`
	}
	get := func(t *testing.T, u clientapitest.User, path string) (int, page) {
		t.Helper()
		var p page
		st := rs.Do(t, "GET", path, u.Token, nil, &p)
		return st, p
	}
	ids := func(p page) []string {
		var out []string
		for _, e := range p.Chunk {
			out = append(out, e.EventID)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		as      clientapitest.User
		path    string
		status  int
		errcode string
		want    []string
	}{
		{"all, newest first", alice, base + esc(root), 200, "", []string{react, reply, edit}},
		{"forwards", alice, base + esc(root) + "?dir=f", 200, "", []string{edit, reply, react}},
		{"by rel type", alice, base + esc(root) + "/m.thread", 200, "", []string{reply}},
		{"by rel and event type", alice, base + esc(root) + "/m.annotation/m.reaction", 200, "", []string{react}},
		{"event type mismatch", alice, base + esc(root) + "/m.annotation/m.room.message", 200, "", nil},
		{"no children", alice, base + esc(reply), 200, "", nil},
		{"non-member", eve, base + esc(root), 403, "M_FORBIDDEN", nil},
		{"unknown event", alice, base + esc("$nope"), 404, "M_NOT_FOUND", nil},
		{"bad dir", alice, base + esc(root) + "?dir=x", 400, "M_INVALID_PARAM", nil},
		{"bad limit", alice, base + esc(root) + "?limit=-1", 400, "M_INVALID_PARAM", nil},
		{"bad from", alice, base + esc(root) + "?from=zzz", 400, "M_INVALID_PARAM", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, p := get(t, tc.as, tc.path)
			if st != tc.status || p.Errcode != tc.errcode {
				t.Fatalf("status %d %s, want %d %s", st, p.Errcode, tc.status, tc.errcode)
			}
			if st == 200 && !slices.Equal(ids(p), tc.want) {
				t.Errorf("chunk %v, want %v", ids(p), tc.want)
			}
		})
	}

	for _, dir := range []string{"b", "f"} {
		t.Run("paginate "+dir, func(t *testing.T) {
			var got []string
			from := ""
			for range 10 {
				q := "?limit=1&dir=" + dir
				if from != "" {
					q += "&from=" + from
				}
				st, p := get(t, alice, base+esc(root)+q)
				if st != 200 || len(p.Chunk) > 1 {
					t.Fatalf("status %d chunk %d", st, len(p.Chunk))
				}
				got = append(got, ids(p)...)
				if p.NextBatch == "" {
					break
				}
				from = p.NextBatch
			}
			want := []string{react, reply, edit}
			if dir == "f" {
				want = []string{edit, reply, react}
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages %v, want %v", got, want)
			}
		})
	}
}

func TestThreads(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	eve := rs.AddUser(t, "eve", "pw-eve-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{})
	reply := func(u clientapitest.User, root string) {
		txnSeq++
		rs.must(t, u, "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/th%d", esc(roomID), txnSeq), map[string]any{
			"msgtype": "m.text", "body": "reply", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
	}
	rootA := rs.send(t, alice, roomID, "thread A")
	rootB := rs.send(t, bob, roomID, "thread B")
	rs.send(t, alice, roomID, "no thread")
	reply(bob, rootB)
	reply(bob, rootA) // A is now the most recently active
	type page struct {
		Chunk     []ev   `json:"chunk"`
		NextBatch string `json:"next_batch"`
		Errcode   string `json:"errcode"`
	}
	base := "/_matrix/client/v1/rooms/" + esc(roomID) + "/threads"
	for _, tc := range []struct {
		name    string
		as      clientapitest.User
		query   string
		status  int
		errcode string
		want    []string
		next    bool
	}{
		{"all", alice, "", 200, "", []string{rootA, rootB}, false},
		{"first page", alice, "?limit=1", 200, "", []string{rootA}, true},
		{"second page", alice, "?limit=1&from=t1", 200, "", []string{rootB}, false},
		{"participated by alice", alice, "?include=participated", 200, "", []string{rootA}, false},
		{"participated by bob", bob, "?include=participated", 200, "", []string{rootA, rootB}, false},
		{"non-member", eve, "", 403, "M_FORBIDDEN", nil, false},
		{"bad include", alice, "?include=some", 400, "M_INVALID_PARAM", nil, false},
		{"bad from", alice, "?from=x", 400, "M_INVALID_PARAM", nil, false},
		{"bad limit", alice, "?limit=-2", 400, "M_INVALID_PARAM", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p page
			st := rs.Do(t, "GET", base+tc.query, tc.as.Token, nil, &p)
			if st != tc.status || p.Errcode != tc.errcode {
				t.Fatalf("status %d %s, want %d %s", st, p.Errcode, tc.status, tc.errcode)
			}
			var got []string
			for _, e := range p.Chunk {
				got = append(got, e.EventID)
			}
			if st == 200 && (!slices.Equal(got, tc.want) || (p.NextBatch != "") != tc.next) {
				t.Errorf("chunk %v next %q, want %v next=%v", got, p.NextBatch, tc.want, tc.next)
			}
		})
	}
}

func TestTimestampToEvent(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	eve := rs.AddUser(t, "eve", "pw-eve-12345")
	roomID := rs.createRoom(t, alice, nil)
	rs.send(t, alice, roomID, "first")
	last := rs.send(t, alice, roomID, "last")
	var created struct {
		Chunk []struct {
			EventID string `json:"event_id"`
			TS      int64  `json:"origin_server_ts"`
		} `json:"chunk"`
	}
	rs.Do(t, "GET", "/_matrix/client/v3/rooms/"+esc(roomID)+"/messages?dir=f&limit=1", alice.Token, nil, &created)
	if len(created.Chunk) != 1 {
		t.Fatal("no first event")
	}
	createEv, createTS := created.Chunk[0].EventID, created.Chunk[0].TS
	base := "/_matrix/client/v1/rooms/" + esc(roomID) + "/timestamp_to_event"
	for _, tc := range []struct {
		name    string
		as      clientapitest.User
		query   string
		status  int
		errcode string
		want    string
	}{
		{"newest before the future", alice, "?dir=b&ts=99999999999999", 200, "", last},
		{"oldest after the past", alice, "?dir=f&ts=0", 200, "", createEv},
		{"at the create event, backwards", alice, fmt.Sprintf("?dir=b&ts=%d", createTS-1), 404, "M_NOT_FOUND", ""},
		{"nothing after the future", alice, "?dir=f&ts=99999999999999", 404, "M_NOT_FOUND", ""},
		{"non-member", eve, "?dir=b&ts=1", 403, "M_FORBIDDEN", ""},
		{"missing ts", alice, "?dir=b", 400, "M_MISSING_PARAM", ""},
		{"missing dir", alice, "?ts=1", 400, "M_MISSING_PARAM", ""},
		{"bad ts", alice, "?dir=b&ts=soon", 400, "M_INVALID_PARAM", ""},
		{"bad dir", alice, "?dir=x&ts=1", 400, "M_INVALID_PARAM", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				EventID string `json:"event_id"`
				TS      int64  `json:"origin_server_ts"`
				Errcode string `json:"errcode"`
			}
			st := rs.Do(t, "GET", base+tc.query, tc.as.Token, nil, &out)
			if st != tc.status || out.Errcode != tc.errcode || out.EventID != tc.want {
				t.Errorf("status %d %+v, want %d %s %s", st, out, tc.status, tc.errcode, tc.want)
			}
			if st == 200 && out.TS == 0 {
				t.Error("no origin_server_ts")
			}
		})
	}
}
