package clientapi_test

import (
	"encoding/json"
	"testing"

	"scop/clientapi/clientapitest"
)

func TestKeysUploadQueryClaim(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	s.Do(t, "PUT", "/_matrix/client/v3/devices/"+a.DeviceID, a.Token, map[string]any{"display_name": "Alice's laptop"}, nil)
	deviceKeys := map[string]any{"user_id": a.UserID, "device_id": a.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]string{"curve25519:" + a.DeviceID: "curvekey", "ed25519:" + a.DeviceID: "edkey"},
		"signatures": map[string]any{a.UserID: map[string]string{"ed25519:" + a.DeviceID: "sig"}}}
	var up struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	st := s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{
		"device_keys":   deviceKeys,
		"one_time_keys": map[string]any{"signed_curve25519:AAAA": map[string]any{"key": "k1"}, "signed_curve25519:AAAB": map[string]any{"key": "k2"}},
		"fallback_keys": map[string]any{"signed_curve25519:FFFF": map[string]any{"key": "fb", "fallback": true}},
	}, &up)
	if st != 200 || up.Counts["signed_curve25519"] != 2 {
		t.Fatalf("upload: %d %+v", st, up)
	}
	// Re-uploading the same key is harmless.
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{
		"one_time_keys": map[string]any{"signed_curve25519:AAAA": map[string]any{"key": "k1"}}}, &up); st != 200 || up.Counts["signed_curve25519"] != 2 {
		t.Fatalf("re-upload: %d %+v", st, up)
	}

	var q struct {
		DeviceKeys map[string]map[string]struct {
			DeviceID string            `json:"device_id"`
			Keys     map[string]string `json:"keys"`
			Unsigned struct {
				Name string `json:"device_display_name"`
			} `json:"unsigned"`
		} `json:"device_keys"`
		Failures map[string]any `json:"failures"`
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/query", b.Token, map[string]any{"device_keys": map[string]any{a.UserID: []string{}, "@x:elsewhere": []string{}}}, &q); st != 200 {
		t.Fatalf("query: %d", st)
	}
	k := q.DeviceKeys[a.UserID][a.DeviceID]
	if k.Keys["ed25519:"+a.DeviceID] != "edkey" || k.Unsigned.Name != "Alice's laptop" || q.Failures == nil {
		t.Fatalf("query answer: %+v", q)
	}

	claim := func() map[string]json.RawMessage {
		var c struct {
			OTK map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		}
		if st := s.Do(t, "POST", "/_matrix/client/v3/keys/claim", b.Token, map[string]any{"one_time_keys": map[string]any{
			a.UserID: map[string]string{a.DeviceID: "signed_curve25519"}}}, &c); st != 200 {
			t.Fatalf("claim: %d", st)
		}
		return c.OTK[a.UserID][a.DeviceID]
	}
	got := []string{}
	for range 4 {
		for id := range claim() {
			got = append(got, id)
		}
	}
	// Two one-time keys, then the fallback key, again and again.
	if want := []string{"signed_curve25519:AAAA", "signed_curve25519:AAAB", "signed_curve25519:FFFF", "signed_curve25519:FFFF"}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("claimed %v", got)
	}
	up.Counts = nil
	s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{}, &up)
	if up.Counts["signed_curve25519"] != 0 {
		t.Fatalf("counts after claims: %+v", up)
	}

	tests := []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"another device's keys", "upload", map[string]any{"device_keys": map[string]any{"user_id": a.UserID, "device_id": "OTHER", "keys": map[string]string{"a:b": "c"}}}, 400, "M_INVALID_PARAM"},
		{"no keys", "upload", map[string]any{"device_keys": map[string]any{"user_id": a.UserID, "device_id": a.DeviceID}}, 400, "M_INVALID_PARAM"},
		{"device keys not an object", "upload", map[string]any{"device_keys": 5}, 400, "M_BAD_JSON"},
		{"key ID without algorithm", "upload", map[string]any{"one_time_keys": map[string]any{"AAAA": "x"}}, 400, "M_INVALID_PARAM"},
		{"key not object or string", "upload", map[string]any{"one_time_keys": map[string]any{"c:AAAA": 5}}, 400, "M_BAD_JSON"},
		{"conflicting key", "upload", map[string]any{"one_time_keys": map[string]any{"signed_curve25519:AAAA": map[string]any{"key": "other"}}}, 200, ""},
		{"query without device_keys", "query", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"query wrong type", "query", map[string]any{"device_keys": map[string]any{a.UserID: "x"}}, 400, "M_BAD_JSON"},
		{"claim without one_time_keys", "claim", map[string]any{}, 400, "M_MISSING_PARAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "POST", "/_matrix/client/v3/keys/"+tc.path, a.Token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
	// A claimed key's ID may be reused; an unclaimed one may not change.
	var e mxErr
	s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:BBBB": "one"}}, nil)
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:BBBB": "two"}}, &e); st != 400 || e.ErrCode != "M_INVALID_PARAM" {
		t.Fatalf("conflicting upload: %d %+v", st, e)
	}

	// Deleting the device deletes its keys.
	s.Do(t, "POST", "/_matrix/client/v3/logout", a.Token, nil, nil)
	q.DeviceKeys = nil
	s.Do(t, "POST", "/_matrix/client/v3/keys/query", b.Token, map[string]any{"device_keys": map[string]any{a.UserID: []string{}}}, &q)
	if len(q.DeviceKeys[a.UserID]) != 0 {
		t.Fatalf("keys after logout: %+v", q.DeviceKeys)
	}
}

func TestDeviceKeyCounts(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{
		"one_time_keys": map[string]any{"signed_curve25519:A": "k", "signed_curve25519:B": "k2"},
		"fallback_keys": map[string]any{"signed_curve25519:F": "f"}}, nil)
	dev, err := s.Accounts.Authenticate(t.Context(), a.Token)
	if err != nil {
		t.Fatal(err)
	}
	counts, fallback, err := s.API.DeviceKeyCounts(t.Context(), dev)
	if err != nil || counts["signed_curve25519"] != 2 || len(fallback) != 1 || fallback[0] != "signed_curve25519" {
		t.Fatalf("counts %v fallback %v err %v", counts, fallback, err)
	}
}
