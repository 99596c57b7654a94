package clientapi_test

import (
	"strings"
	"testing"

	"scop/clientapi/clientapitest"
)

// mxErr is the spec's error body.
type mxErr struct {
	ErrCode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

func passwordLogin(user, password string) map[string]any {
	return map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
}

func TestLoginFlows(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	var out struct {
		Flows []struct{ Type string } `json:"flows"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/login", "", nil, &out); st != 200 || len(out.Flows) != 2 || out.Flows[0].Type != "m.login.password" {
		t.Fatalf("GET /login = %d %+v", st, out)
	}
}

func TestLogin(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	s.AddUser(t, "alice", "right")
	type resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
		mxErr
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"localpart", passwordLogin("alice", "right"), 200, ""},
		{"full ID", passwordLogin("@alice:test", "right"), 200, ""},
		{"upper-case localpart", passwordLogin("Alice", "right"), 200, ""},
		{"legacy user field", map[string]any{"type": "m.login.password", "user": "alice", "password": "right"}, 200, ""},
		{"given device ID", map[string]any{"type": "m.login.password", "user": "alice", "password": "right", "device_id": "DEV1"}, 200, ""},
		{"wrong password", passwordLogin("alice", "wrong"), 403, "M_FORBIDDEN"},
		{"empty password", passwordLogin("alice", ""), 403, "M_FORBIDDEN"},
		{"unknown user", passwordLogin("bob", "right"), 403, "M_FORBIDDEN"},
		{"other server", passwordLogin("@alice:elsewhere", "right"), 403, "M_FORBIDDEN"},
		{"bad login type", map[string]any{"type": "m.login.token", "token": "x"}, 400, "M_UNKNOWN"},
		{"bad identifier type", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.phone"}, "password": "x"}, 400, "M_UNKNOWN"},
		{"no user", map[string]any{"type": "m.login.password", "password": "x"}, 400, "M_MISSING_PARAM"},
		{"not JSON", "{not json", 400, "M_NOT_JSON"},
		{"wrong type", `{"type":"m.login.password","password":12}`, 400, "M_BAD_JSON"},
		{"array body", `[1,2]`, 400, "M_BAD_JSON"},
		{"oversized body", `{"type":"m.login.password","password":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "M_TOO_LARGE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out resp
			st := s.Do(t, "POST", "/_matrix/client/v3/login", "", tc.body, &out)
			if st != tc.status || out.ErrCode != tc.code {
				t.Fatalf("status %d errcode %q, want %d %q (%s)", st, out.ErrCode, tc.status, tc.code, out.Error)
			}
			if st != 200 {
				return
			}
			if out.UserID != "@alice:test" || out.AccessToken == "" || out.DeviceID == "" {
				t.Fatalf("login answer %+v", out)
			}
			var who struct {
				UserID   string `json:"user_id"`
				DeviceID string `json:"device_id"`
				IsGuest  *bool  `json:"is_guest"`
			}
			if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", out.AccessToken, nil, &who); st != 200 ||
				who.UserID != "@alice:test" || who.DeviceID != out.DeviceID || who.IsGuest == nil || *who.IsGuest {
				t.Fatalf("whoami = %d %+v", st, who)
			}
		})
	}
}

func TestLoginReusesDeviceAndRevokesOldToken(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	s.AddUser(t, "alice", "pw")
	login := map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "device_id": "PHONE"}
	var first, second struct {
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	s.Do(t, "POST", "/_matrix/client/v3/login", "", login, &first)
	s.Do(t, "POST", "/_matrix/client/v3/login", "", login, &second)
	if first.DeviceID != "PHONE" || second.DeviceID != "PHONE" || first.AccessToken == second.AccessToken {
		t.Fatalf("logins: %+v %+v", first, second)
	}
	var e mxErr
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", first.AccessToken, nil, &e); st != 401 || e.ErrCode != "M_UNKNOWN_TOKEN" {
		t.Fatalf("old token: %d %+v", st, e)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", second.AccessToken, nil, nil); st != 200 {
		t.Fatalf("new token: %d", st)
	}
}

func TestAccessTokens(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	u := s.AddUser(t, "alice", "pw")
	tests := []struct {
		name, path, header string
		status             int
		code               string
	}{
		{"bearer header", "/_matrix/client/v3/account/whoami", "Bearer " + u.Token, 200, ""},
		{"query parameter", "/_matrix/client/v3/account/whoami?access_token=" + u.Token, "", 200, ""},
		{"r0 prefix", "/_matrix/client/r0/account/whoami", "Bearer " + u.Token, 200, ""},
		{"missing", "/_matrix/client/v3/account/whoami", "", 401, "M_MISSING_TOKEN"},
		{"unknown", "/_matrix/client/v3/account/whoami", "Bearer nope", 401, "M_UNKNOWN_TOKEN"},
		{"not bearer", "/_matrix/client/v3/account/whoami", "Basic " + u.Token, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			st := s.DoHeader(t, "GET", tc.path, tc.header, &e)
			if st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %q, want %d %q", st, e.ErrCode, tc.status, tc.code)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser2(t, "alice", "pw")
	if st := s.Do(t, "POST", "/_matrix/client/v3/logout", a.Token, nil, nil); st != 200 {
		t.Fatalf("logout: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", a.Token, nil, nil); st != 401 {
		t.Fatalf("token after logout: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", b.Token, nil, nil); st != 200 {
		t.Fatalf("other device after logout: %d", st)
	}
	c := s.AddUser2(t, "alice", "pw")
	if st := s.Do(t, "POST", "/_matrix/client/v3/logout/all", c.Token, nil, nil); st != 200 {
		t.Fatalf("logout/all: %d", st)
	}
	for _, tok := range []string{b.Token, c.Token} {
		if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil, nil); st != 401 {
			t.Fatalf("token after logout/all: %d", st)
		}
	}
}
