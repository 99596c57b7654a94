package clientapi_test

import (
	"encoding/json"
	"testing"

	"scop/clientapi/clientapitest"
)

func csKey(user, usage, pub string) map[string]any {
	return map[string]any{"user_id": user, "usage": []string{usage}, "keys": map[string]string{"ed25519:" + pub: pub}}
}

func TestCrossSigning(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	s.Do(t, "POST", "/_matrix/client/v3/keys/upload", a.Token, map[string]any{"device_keys": map[string]any{
		"user_id": a.UserID, "device_id": a.DeviceID, "algorithms": []string{"m.megolm.v1.aes-sha2"},
		"keys": map[string]string{"ed25519:" + a.DeviceID: "devkey"}}}, nil)

	// First upload: no auth needed.
	up := map[string]any{"master_key": csKey(a.UserID, "master", "MASTER"), "self_signing_key": csKey(a.UserID, "self_signing", "SELF"),
		"user_signing_key": csKey(a.UserID, "user_signing", "USER")}
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", a.Token, up, nil); st != 200 {
		t.Fatalf("first upload: %d", st)
	}
	// Replacing needs the password.
	var u uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", a.Token, up, &u); st != 401 || u.Session == "" {
		t.Fatalf("second upload without auth: %d %+v", st, u)
	}
	up["auth"] = passwordAuth(u.Session, "alice", "pw")
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", a.Token, up, nil); st != 200 {
		t.Fatalf("second upload with auth: %d", st)
	}

	// Alice signs her device with the self-signing key; Bob signs Alice's master key.
	var sr struct {
		Failures map[string]any `json:"failures"`
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/signatures/upload", a.Token, map[string]any{a.UserID: map[string]any{
		a.DeviceID: map[string]any{"user_id": a.UserID, "device_id": a.DeviceID, "signatures": map[string]any{a.UserID: map[string]string{"ed25519:SELF": "sig1"}}},
	}}, &sr); st != 200 || len(sr.Failures) != 0 {
		t.Fatalf("sign own device: %d %+v", st, sr)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/keys/signatures/upload", b.Token, map[string]any{a.UserID: map[string]any{
		"MASTER":   map[string]any{"signatures": map[string]any{b.UserID: map[string]string{"ed25519:BOBUSER": "sig2"}}},
		a.DeviceID: map[string]any{"signatures": map[string]any{b.UserID: map[string]string{"ed25519:BOBUSER": "sig3"}}},
		"NOPE":     "x",
	}}, &sr); st != 200 || len(sr.Failures) != 1 || len(sr.Failures[a.UserID].(map[string]any)) != 2 {
		t.Fatalf("bob signs: %d %+v", st, sr)
	}

	var q struct {
		DeviceKeys  map[string]map[string]json.RawMessage                        `json:"device_keys"`
		Master      map[string]struct{ Signatures map[string]map[string]string } `json:"master_keys"`
		SelfSigning map[string]json.RawMessage                                   `json:"self_signing_keys"`
		UserSigning map[string]json.RawMessage                                   `json:"user_signing_keys"`
	}
	s.Do(t, "POST", "/_matrix/client/v3/keys/query", b.Token, map[string]any{"device_keys": map[string]any{a.UserID: []string{}}}, &q)
	if q.Master[a.UserID].Signatures[b.UserID]["ed25519:BOBUSER"] != "sig2" || q.SelfSigning[a.UserID] == nil {
		t.Fatalf("bob's query: %+v", q)
	}
	if _, ok := q.UserSigning[a.UserID]; ok {
		t.Fatal("bob sees alice's user-signing key")
	}
	var dk struct{ Signatures map[string]map[string]string }
	json.Unmarshal(q.DeviceKeys[a.UserID][a.DeviceID], &dk)
	if dk.Signatures[a.UserID]["ed25519:SELF"] != "sig1" {
		t.Fatalf("device signatures: %+v", dk)
	}
	s.Do(t, "POST", "/_matrix/client/v3/keys/query", a.Token, map[string]any{"device_keys": map[string]any{a.UserID: []string{}}}, &q)
	if q.UserSigning[a.UserID] == nil {
		t.Fatal("alice does not see her user-signing key")
	}

	c := s.AddUser(t, "carol", "pw")
	tests := []struct {
		name string
		body any
		code string
	}{
		{"other user's key", map[string]any{"master_key": csKey(a.UserID, "master", "X")}, "M_INVALID_PARAM"},
		{"wrong usage", map[string]any{"master_key": csKey(c.UserID, "self_signing", "X")}, "M_INVALID_PARAM"},
		{"self-signing before master", map[string]any{"self_signing_key": csKey(c.UserID, "self_signing", "X")}, "M_INVALID_PARAM"},
		{"two keys", map[string]any{"master_key": map[string]any{"user_id": c.UserID, "usage": []string{"master"}, "keys": map[string]string{"a:1": "1", "a:2": "2"}}}, "M_INVALID_PARAM"},
		{"not an object", map[string]any{"master_key": "x"}, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", c.Token, tc.body, &e); st != 400 || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want 400 %s", st, e, tc.code)
			}
		})
	}
}
