package clientapi_test

import (
	"testing"

	"scop/clientapi/clientapitest"
)

func keyData(index, forwarded int, verified bool, tag string) map[string]any {
	return map[string]any{"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
		"session_data": map[string]any{"ciphertext": tag}}
}

func TestKeyBackup(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	u := s.AddUser(t, "alice", "pw")
	other := s.AddUser(t, "bob", "pw")
	const base = "/_matrix/client/v3/room_keys"
	var e mxErr
	if st := s.Do(t, "GET", base+"/version", u.Token, nil, &e); st != 404 || e.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("no backup yet: %d %+v", st, e)
	}
	var created struct{ Version string }
	if st := s.Do(t, "POST", base+"/version", u.Token, map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
		"auth_data": map[string]any{"public_key": "pk"}}, &created); st != 200 || created.Version != "1" {
		t.Fatalf("create: %d %+v", st, created)
	}
	v := "?version=" + created.Version
	type count struct {
		Count int64  `json:"count"`
		ETag  string `json:"etag"`
	}
	var c1, c2 count
	if st := s.Do(t, "PUT", base+"/keys"+v, u.Token, map[string]any{"rooms": map[string]any{
		"!r:test": map[string]any{"sessions": map[string]any{"s1": keyData(5, 1, false, "a"), "s2": keyData(0, 0, true, "b")}}}}, &c1); st != 200 || c1.Count != 2 {
		t.Fatalf("put keys: %d %+v", st, c1)
	}
	// A worse key does not replace a better one (and the etag stays).
	s.Do(t, "PUT", base+"/keys/!r:test/s2"+v, u.Token, keyData(3, 0, false, "worse"), &c2)
	if c2.ETag != c1.ETag {
		t.Fatalf("worse key changed the etag: %+v %+v", c1, c2)
	}
	// A better one does.
	s.Do(t, "PUT", base+"/keys/!r:test"+v, u.Token, map[string]any{"sessions": map[string]any{"s1": keyData(2, 1, false, "better")}}, &c2)
	if c2.ETag == c1.ETag || c2.Count != 2 {
		t.Fatalf("better key: %+v %+v", c1, c2)
	}
	var one struct {
		SessionData map[string]string `json:"session_data"`
	}
	if st := s.Do(t, "GET", base+"/keys/!r:test/s1"+v, u.Token, nil, &one); st != 200 || one.SessionData["ciphertext"] != "better" {
		t.Fatalf("get session: %d %+v", st, one)
	}
	var all struct {
		Rooms map[string]struct {
			Sessions map[string]struct {
				SessionData map[string]string `json:"session_data"`
			} `json:"sessions"`
		} `json:"rooms"`
	}
	if st := s.Do(t, "GET", base+"/keys"+v, u.Token, nil, &all); st != 200 || all.Rooms["!r:test"].Sessions["s2"].SessionData["ciphertext"] != "b" {
		t.Fatalf("get all: %d %+v", st, all)
	}
	var info struct {
		Count   int64  `json:"count"`
		Version string `json:"version"`
	}
	if st := s.Do(t, "GET", base+"/version", u.Token, nil, &info); st != 200 || info.Count != 2 || info.Version != "1" {
		t.Fatalf("version info: %d %+v", st, info)
	}
	if st := s.Do(t, "GET", base+"/version", other.Token, nil, nil); st != 404 {
		t.Fatalf("another user's backup visible: %d", st)
	}
	// A new version becomes current; writes to the old one are refused.
	s.Do(t, "POST", base+"/version", u.Token, map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{}}, &created)
	var wrong struct {
		mxErr
		Current string `json:"current_version"`
	}
	if st := s.Do(t, "PUT", base+"/keys/!r:test/s3?version=1", u.Token, keyData(0, 0, false, "x"), &wrong); st != 403 || wrong.ErrCode != "M_WRONG_ROOM_KEYS_VERSION" || wrong.Current != "2" {
		t.Fatalf("write to old version: %d %+v", st, wrong)
	}
	if st := s.Do(t, "DELETE", base+"/keys/!r:test/s1?version=1", u.Token, nil, nil); st != 403 {
		t.Fatalf("delete from old version: %d", st)
	}
	if st := s.Do(t, "DELETE", base+"/version/1", u.Token, nil, nil); st != 200 {
		t.Fatalf("delete version: %d", st)
	}
	if st := s.Do(t, "GET", base+"/version/1", u.Token, nil, nil); st != 404 {
		t.Fatalf("deleted version: %d", st)
	}

	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"no algorithm", "POST", "/version", map[string]any{"auth_data": map[string]any{}}, 400, "M_MISSING_PARAM"},
		{"auth_data not an object", "POST", "/version", map[string]any{"algorithm": "x", "auth_data": 1}, 400, "M_BAD_JSON"},
		{"change algorithm", "PUT", "/version/2", map[string]any{"algorithm": "other", "auth_data": map[string]any{}}, 400, "M_INVALID_PARAM"},
		{"body version mismatch", "PUT", "/version/2", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{}, "version": "3"}, 400, "M_INVALID_PARAM"},
		{"bad version", "GET", "/version/abc", nil, 404, "M_NOT_FOUND"},
		{"keys without version", "GET", "/keys", nil, 400, "M_MISSING_PARAM"},
		{"incomplete key", "PUT", "/keys/!r:test/s9?version=2", map[string]any{"session_data": map[string]any{}}, 400, "M_MISSING_PARAM"},
		{"session data not an object", "PUT", "/keys/!r:test/s9?version=2", keyData(0, 0, false, "x")["first_message_index"], 400, "M_BAD_JSON"},
		{"unknown session", "GET", "/keys/!r:test/nope?version=2", nil, 404, "M_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, tc.method, base+tc.path, u.Token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
}
