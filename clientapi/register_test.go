package clientapi_test

import (
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

// uiaResp is a 401 user-interactive auth answer.
type uiaResp struct {
	Session string `json:"session"`
	Flows   []struct {
		Stages []string `json:"stages"`
	} `json:"flows"`
	Params    map[string]any `json:"params"`
	Completed []string       `json:"completed"`
	mxErr
}

type authResp struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
	mxErr
}

func TestRegisterDisabled(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	var e mxErr
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "p"}, &e); st != 403 || e.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("register when disabled: %d %+v", st, e)
	}
}

func TestRegisterDummyFlow(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{RegistrationEnabled: true}})
	// Element's first request is {} to learn the flows.
	var flows uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{}, &flows); st != 401 || len(flows.Flows) != 1 {
		t.Fatalf("flows request: %d %+v", st, flows)
	}
	req := map[string]any{"username": "alice", "password": "pw", "initial_device_display_name": "Laptop"}
	var u uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &u); st != 401 || u.Session == "" ||
		len(u.Flows) != 1 || u.Flows[0].Stages[0] != "m.login.dummy" || u.Params == nil || u.ErrCode != "" {
		t.Fatalf("first step: %d %+v", st, u)
	}
	req["auth"] = map[string]any{"type": "m.login.dummy", "session": u.Session}
	var a authResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &a); st != 200 || a.UserID != "@alice:test" || a.AccessToken == "" || a.DeviceID == "" {
		t.Fatalf("second step: %d %+v", st, a)
	}
	// The session was used up.
	var e mxErr
	req["username"] = "alice2"
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &e); st != 403 {
		t.Fatalf("reused session: %d %+v", st, e)
	}
	// Dummy without a session completes in one request.
	req["auth"] = map[string]any{"type": "m.login.dummy"}
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &a); st != 200 || a.UserID != "@alice2:test" {
		t.Fatalf("one-shot dummy: %d %+v", st, a)
	}
	var dev struct {
		DisplayName string `json:"display_name"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/devices/"+a.DeviceID, a.AccessToken, nil, &dev); st != 200 || dev.DisplayName != "Laptop" {
		t.Fatalf("device: %d %+v", st, dev)
	}
}

func TestRegisterErrors(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{RegistrationEnabled: true}})
	s.AddUser(t, "taken", "pw")
	dummy := map[string]any{"type": "m.login.dummy"}
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"taken", "", map[string]any{"username": "taken", "password": "pw", "auth": dummy}, 400, "M_USER_IN_USE"},
		{"upper case", "", map[string]any{"username": "Bob", "password": "pw", "auth": dummy}, 400, "M_INVALID_USERNAME"},
		{"bad characters", "", map[string]any{"username": "b b", "password": "pw", "auth": dummy}, 400, "M_INVALID_USERNAME"},
		{"no password", "", map[string]any{"username": "bob", "auth": dummy}, 400, "M_MISSING_PARAM"},
		{"wrong stage", "", map[string]any{"username": "bob", "password": "pw", "auth": map[string]any{"type": "m.login.password"}}, 401, "M_UNRECOGNIZED"},
		{"unknown session", "", map[string]any{"username": "bob", "password": "pw", "auth": map[string]any{"type": "m.login.dummy", "session": "nope"}}, 403, "M_FORBIDDEN"},
		{"guest", "?kind=guest", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"bad kind", "?kind=robot", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"bad JSON", "", "{", 400, "M_NOT_JSON"},
		{"wrong type", "", `{"username": 5}`, 400, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "POST", "/_matrix/client/v3/register"+tc.path, "", tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
}

func TestRegisterToken(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{RegistrationEnabled: true, RegistrationToken: "s3cret"}})
	req := map[string]any{"username": "alice", "password": "pw"}
	var u uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &u); st != 401 || u.Flows[0].Stages[0] != "m.login.registration_token" {
		t.Fatalf("first step: %d %+v", st, u)
	}
	req["auth"] = map[string]any{"type": "m.login.dummy", "session": u.Session}
	var u2 uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &u2); st != 401 || u2.ErrCode != "M_UNRECOGNIZED" {
		t.Fatalf("dummy instead of token: %d %+v", st, u2)
	}
	req["auth"] = map[string]any{"type": "m.login.registration_token", "token": "wrong", "session": u.Session}
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &u2); st != 401 || u2.ErrCode != "M_FORBIDDEN" || u2.Session != u.Session {
		t.Fatalf("wrong token: %d %+v", st, u2)
	}
	req["auth"] = map[string]any{"type": "m.login.registration_token", "token": "s3cret", "session": u.Session}
	var a authResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", "", req, &a); st != 200 || a.UserID != "@alice:test" {
		t.Fatalf("right token: %d %+v", st, a)
	}
	var v struct {
		Valid bool `json:"valid"`
	}
	base := "/_matrix/client/v1/register/m.login.registration_token/validity?token="
	if st := s.Do(t, "GET", base+"s3cret", "", nil, &v); st != 200 || !v.Valid {
		t.Fatalf("validity of right token: %d %+v", st, v)
	}
	if st := s.Do(t, "GET", base+"nope", "", nil, &v); st != 200 || v.Valid {
		t.Fatalf("validity of wrong token: %d %+v", st, v)
	}
}

func TestRegisterAvailable(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	s.AddUser(t, "taken", "pw")
	tests := []struct {
		name, user string
		status     int
		code       string
	}{
		{"free", "free", 200, ""},
		{"taken", "taken", 400, "M_USER_IN_USE"},
		{"invalid", "a:b", 400, "M_INVALID_USERNAME"},
		{"upper", "Free", 400, "M_INVALID_USERNAME"},
		{"empty", "", 400, "M_INVALID_USERNAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "GET", "/_matrix/client/v3/register/available?username="+tc.user, "", nil, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v", st, e)
			}
		})
	}
}
