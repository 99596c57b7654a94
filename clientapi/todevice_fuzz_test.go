package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// FuzzSendToDevice sends arbitrary bodies to PUT /sendToDevice and
// arbitrary since tokens to /sync: never a 500, always a JSON object,
// an errcode on every error.
func FuzzSendToDevice(f *testing.F) {
	rs := newToDeviceServer(f)
	u := rs.AddUser(f, "alice", "pw-alice-123")
	for _, seed := range []struct{ body, since string }{
		{`{"messages":{"@alice:test":{"*":{"a":1}}}}`, "s0_0_d0"},
		{`{"messages":{"@alice:test":{"DEV":{}}}}`, "s1_0"},
		{`{"messages":{"@x:other":{"*":{}}}}`, "s1_2_d-1"},
		{`{"messages":{"@alice:test":{"*":"x"}}}`, "_d"},
		{`{"messages":null}`, "s99999999999999999999_0_d1"},
		{`[1]`, "garbage"},
		{`{"messages":{}}`, "s1_0_d2_k3"},
		{`{"messages":{}}`, "s1_0_d2_k-3_k"},
	} {
		f.Add([]byte(seed.body), seed.since)
	}
	n := 0
	check := func(t *testing.T, req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+u.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out map[string]any
		if resp.StatusCode >= 500 || json.Unmarshal(data, &out) != nil {
			t.Fatalf("%s: status %d %s", req.URL, resp.StatusCode, data)
		}
		if resp.StatusCode >= 400 && out["errcode"] == nil {
			t.Fatalf("%s: error without errcode: %s", req.URL, data)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, since string) {
		n++
		req, _ := http.NewRequest("PUT", rs.URL+"/_matrix/client/v3/sendToDevice/m.test/f"+strconv.Itoa(n), bytes.NewReader(body))
		check(t, req)
		req, _ = http.NewRequest("GET", rs.URL+"/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(since), nil)
		check(t, req)
	})
}
