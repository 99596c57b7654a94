package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// FuzzRoomFeatures sends arbitrary bodies to POST /knock and POST
// .../upgrade and arbitrary query values to the space hierarchy: never a
// 5xx, always a JSON object, an errcode on every error.
func FuzzRoomFeatures(f *testing.F) {
	rs := newRoomsServerTB(f)
	u := rs.AddUser(f, "alice", "pw-alice-123")
	var space struct {
		RoomID string `json:"room_id"`
	}
	rs.Do(f, "POST", "/_matrix/client/v3/createRoom", u.Token, map[string]any{
		"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}}, &space)
	for _, seed := range []struct{ body, query string }{
		{`{"reason":"hi"}`, "limit=1"},
		{`{"new_version":"12"}`, "from=h1_0_20_abc"},
		{`{"new_version":"999","additional_creators":["@x:test"]}`, "max_depth=0&suggested_only=true"},
		{`{"new_version":12}`, "limit=0"},
		{`{"reason":5}`, "from=h99999999999999999999_0_1_x"},
		{`[]`, "suggested_only=maybe&limit=-3"},
		{`not json`, "%zz"},
	} {
		f.Add([]byte(seed.body), seed.query)
	}
	room := url.PathEscape(space.RoomID)
	check := func(t *testing.T, method, path string, body []byte) {
		req, err := http.NewRequest(method, rs.URL+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
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
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		check(t, "POST", "/_matrix/client/v3/knock/"+room, body)
		check(t, "POST", "/_matrix/client/v3/knock/"+url.PathEscape(query), body)
		if q, err := url.ParseQuery(query); err == nil {
			// Re-encoded: raw spaces or controls are not a valid request line.
			check(t, "GET", "/_matrix/client/v1/rooms/"+room+"/hierarchy?"+q.Encode(), nil)
		}
		check(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape("!unknown:test")+"/upgrade", body)
		check(t, "POST", "/_matrix/client/v3/rooms/"+room+"/upgrade", body)
	})
}
