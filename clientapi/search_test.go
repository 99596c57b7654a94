package clientapi_test

import (
	"testing"

	"scop/clientapi/clientapitest"
)

func TestSearchRoomEvents(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	eve := rs.AddUser(t, "eve", "pw-eve-12345")
	roomID := rs.createRoom(t, alice, map[string]any{"name": "Needle room"})
	other := rs.createRoom(t, alice, nil)
	hit1 := rs.send(t, alice, roomID, "a Needle in a haystack")
	rs.send(t, alice, roomID, "nothing here")
	hit2 := rs.send(t, alice, other, "another needle, another haystack")
	search := func(words string, extra map[string]any) map[string]any {
		re := map[string]any{"search_term": words}
		for k, v := range extra {
			re[k] = v
		}
		return map[string]any{"search_categories": map[string]any{"room_events": re}}
	}
	for _, tc := range []struct {
		name    string
		as      clientapitest.User
		query   string
		body    any
		status  int
		errcode string
		want    []string
		next    bool
	}{
		{"newest first", alice, "", search("needle haystack", nil), 200, "", []string{hit2, hit1}, false},
		{"every word must match", alice, "", search("needle nothing", nil), 200, "", nil, false},
		{"room filter", alice, "", search("needle", map[string]any{"keys": []string{"content.body"}, "filter": map[string]any{"rooms": []string{roomID}}}), 200, "", []string{hit1}, false},
		{"first page", alice, "", search("haystack", map[string]any{"filter": map[string]any{"limit": 1}}), 200, "", []string{hit2}, true},
		{"second page", alice, "?next_batch=t1", search("haystack", map[string]any{"filter": map[string]any{"limit": 1}}), 200, "", []string{hit1}, false},
		{"only own rooms", eve, "", search("needle", nil), 200, "", nil, false},
		{"empty term", alice, "", search(" ", nil), 400, "M_BAD_JSON", nil, false},
		{"bad key", alice, "", search("x", map[string]any{"keys": []string{"sender"}}), 400, "M_BAD_JSON", nil, false},
		{"bad order", alice, "", search("x", map[string]any{"order_by": "size"}), 400, "M_BAD_JSON", nil, false},
		{"bad next_batch", alice, "?next_batch=zz", search("x", nil), 400, "M_INVALID_PARAM", nil, false},
		{"no categories", alice, "", map[string]any{}, 400, "M_BAD_JSON", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rs.call(t, tc.as, "POST", "/search"+tc.query, tc.body)
			if st != tc.status || out.str("errcode") != tc.errcode {
				t.Fatalf("status %d %v, want %d %s", st, out, tc.status, tc.errcode)
			}
			if st != 200 {
				return
			}
			cats, _ := out["search_categories"].(map[string]any)
			re, _ := cats["room_events"].(map[string]any)
			results, _ := re["results"].([]any)
			var got []string
			for _, r := range results {
				ev, _ := r.(map[string]any)["result"].(map[string]any)
				got = append(got, ev["event_id"].(string))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("results %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("results %v, want %v", got, tc.want)
				}
			}
			if _, has := re["next_batch"]; has != tc.next {
				t.Errorf("next_batch %v, want present=%v", re["next_batch"], tc.next)
			}
		})
	}
}
