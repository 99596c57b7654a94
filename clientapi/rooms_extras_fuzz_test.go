package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// FuzzRoomExtras sends arbitrary bodies to POST /search, PUT .../tags/{tag}
// and PUT m.room.canonical_alias, and arbitrary tokens to the relations,
// threads and /members?at= queries: never a 5xx, always a JSON object,
// an errcode on every error.
func FuzzRoomExtras(f *testing.F) {
	rs := newRoomsServerTB(f)
	u := rs.AddUser(f, "alice", "pw-alice-123")
	var created struct {
		RoomID string `json:"room_id"`
	}
	rs.Do(f, "POST", "/_matrix/client/v3/createRoom", u.Token, map[string]any{}, &created)
	var sent struct {
		EventID string `json:"event_id"`
	}
	rs.Do(f, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(created.RoomID)+"/send/m.room.message/f0", u.Token,
		map[string]any{"msgtype": "m.text", "body": "root"}, &sent)
	for _, seed := range []struct{ body, token string }{
		{`{"search_categories":{"room_events":{"search_term":"root"}}}`, "t0"},
		{`{"search_categories":{"room_events":{"search_term":"x","keys":["content.body"],"filter":{"limit":-1}}}}`, "s1"},
		{`{"search_categories":{"room_events":{"search_term":5}}}`, "t-1"},
		{`{"order":0.5}`, "s99999999999999999999"},
		{`{"order":"x"}`, ""},
		{`{"alias":"#a:test","alt_aliases":["#b:test",1]}`, "s1_0"},
		{`[]`, "garbage"},
	} {
		f.Add([]byte(seed.body), seed.token)
	}
	room := url.PathEscape(created.RoomID)
	check := func(t *testing.T, method, path string, body []byte) {
		req, _ := http.NewRequest(method, rs.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+u.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out map[string]any
		if resp.StatusCode >= 500 || json.Unmarshal(data, &out) != nil {
			t.Fatalf("%s %s: status %d %s", method, path, resp.StatusCode, data)
		}
		if resp.StatusCode >= 400 && out["errcode"] == nil {
			t.Fatalf("%s %s: error without errcode: %s", method, path, data)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		tok := url.QueryEscape(token)
		check(t, "POST", "/_matrix/client/v3/search?next_batch="+tok, body)
		check(t, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(u.UserID)+"/rooms/"+room+"/tags/u.f", body)
		check(t, "PUT", "/_matrix/client/v3/rooms/"+room+"/state/m.room.canonical_alias/", body)
		check(t, "GET", "/_matrix/client/v1/rooms/"+room+"/relations/"+url.PathEscape(sent.EventID)+"?from="+tok, nil)
		check(t, "GET", "/_matrix/client/v1/rooms/"+room+"/threads?from="+tok, nil)
		check(t, "GET", "/_matrix/client/v3/rooms/"+room+"/members?at="+tok, nil)
	})
}
