package clientapi_test

import (
	"net/http"
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
	"scop/homeserver/accounts"
)

const testRegistration = `
id: mailbridge
url: http://127.0.0.1:29999
as_token: as_token_0123456789abcdef
hs_token: hs_token_0123456789abcdef
sender_localpart: mailbot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@mail_.*:test'
`

func TestAppService(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{
		Accounts:   clientapi.AccountOptions{RegistrationEnabled: true},
		RateLimits: map[string][2]float64{"send": {0.001, 1}},
		Setup: func(s *clientapitest.Server) error {
			as, err := accounts.ParseAppService([]byte(testRegistration))
			if err != nil {
				return err
			}
			s.API.Handle("POST /test/send", clientapi.Authed, func(r *http.Request) (any, error) { return struct{}{}, nil }, clientapi.RateLimit("send"))
			return s.Accounts.SetAppServices(t.Context(), []accounts.AppService{as})
		}})
	const tok = "as_token_0123456789abcdef"
	type who struct {
		UserID   string `json:"user_id"`
		DeviceID string `json:"device_id"`
		mxErr
	}
	// The bot: the sender user, created at start.
	var w who
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil, &w); st != 200 || w.UserID != "@mailbot:test" || w.DeviceID != "" {
		t.Fatalf("bot whoami: %d %+v", st, w)
	}
	// Registering a namespace user needs no password or stages.
	var reg authResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/register", tok, map[string]any{"type": "m.login.application_service", "username": "mail_alice",
		"inhibit_login": true}, &reg); st != 200 || reg.UserID != "@mail_alice:test" || reg.AccessToken != "" {
		t.Fatalf("AS register: %d %+v", st, reg)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami?user_id=@mail_alice:test", tok, nil, &w); st != 200 || w.UserID != "@mail_alice:test" {
		t.Fatalf("masquerade: %d %+v", st, w)
	}
	// Not rate limited, unlike users.
	for range 3 {
		if st := s.Do(t, "POST", "/_matrix/client/v3/test/send", tok, nil, nil); st != 200 {
			t.Fatalf("AS send rate limited: %d", st)
		}
	}
	var login authResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/login", tok, map[string]any{"type": "m.login.application_service",
		"identifier": map[string]any{"type": "m.id.user", "user": "mail_alice"}}, &login); st != 200 || login.UserID != "@mail_alice:test" || login.AccessToken == "" {
		t.Fatalf("AS login: %d %+v", st, login)
	}
	user := s.AddUser(t, "carol", "pw")
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"masquerade outside namespace", "GET", "/account/whoami?user_id=@carol:test", tok, nil, 403, "M_FORBIDDEN"},
		{"masquerade unregistered", "GET", "/account/whoami?user_id=@mail_nobody:test", tok, nil, 403, "M_FORBIDDEN"},
		{"user_id from a user is ignored", "GET", "/account/whoami?user_id=@mail_alice:test", user.Token, nil, 200, ""},
		{"register outside namespace", "POST", "/register", tok, map[string]any{"type": "m.login.application_service", "username": "dave"}, 400, "M_EXCLUSIVE"},
		{"register without token", "POST", "/register", "", map[string]any{"type": "m.login.application_service", "username": "mail_x"}, 401, "M_MISSING_TOKEN"},
		{"register with a user token", "POST", "/register", user.Token, map[string]any{"type": "m.login.application_service", "username": "mail_x"}, 403, "M_FORBIDDEN"},
		{"register taken", "POST", "/register", tok, map[string]any{"type": "m.login.application_service", "username": "mail_alice"}, 400, "M_USER_IN_USE"},
		{"user registering in exclusive namespace", "POST", "/register", "", map[string]any{"username": "mail_bob", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"}}, 400, "M_EXCLUSIVE"},
		{"user registering the bot's name", "POST", "/register", "", map[string]any{"username": "mailbot", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"}}, 400, "M_EXCLUSIVE"},
		{"AS login outside namespace", "POST", "/login", tok, map[string]any{"type": "m.login.application_service", "user": "carol"}, 403, "M_FORBIDDEN"},
		{"AS login with a user token", "POST", "/login", user.Token, map[string]any{"type": "m.login.application_service", "user": "mail_alice"}, 403, "M_FORBIDDEN"},
		{"password login as namespace user", "POST", "/login", "", map[string]any{"type": "m.login.password", "user": "mail_alice", "password": ""}, 403, "M_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, tc.method, "/_matrix/client/v3"+tc.path, tc.token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
}
