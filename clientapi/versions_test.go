package clientapi_test

import (
	"slices"
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

func TestDiscovery(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{DefaultRoomVersion: "11"}})
	u := s.AddUser(t, "alice", "pw")

	var v struct {
		Versions []string        `json:"versions"`
		Unstable map[string]bool `json:"unstable_features"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/versions", "", nil, &v); st != 200 || !slices.Contains(v.Versions, "v1.1") ||
		!slices.Contains(v.Versions, "v1.4") || v.Unstable == nil {
		t.Fatalf("versions: %d %+v", st, v)
	}

	var caps struct {
		Capabilities struct {
			ChangePassword struct{ Enabled bool } `json:"m.change_password"`
			SetDisplayName struct{ Enabled bool } `json:"m.set_displayname"`
			RoomVersions   struct {
				Default   string            `json:"default"`
				Available map[string]string `json:"available"`
			} `json:"m.room_versions"`
		} `json:"capabilities"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/capabilities", u.Token, nil, &caps); st != 200 || !caps.Capabilities.ChangePassword.Enabled ||
		!caps.Capabilities.SetDisplayName.Enabled || caps.Capabilities.RoomVersions.Default != "11" ||
		caps.Capabilities.RoomVersions.Available["12"] != "stable" {
		t.Fatalf("capabilities: %d %+v", st, caps)
	}

	var wk struct {
		HS struct {
			BaseURL string `json:"base_url"`
		} `json:"m.homeserver"`
	}
	if st := s.Do(t, "GET", "/.well-known/matrix/client", "", nil, &wk); st != 200 || wk.HS.BaseURL != s.URL {
		t.Fatalf("well-known: %d %+v (want %s)", st, wk, s.URL)
	}

	var tp map[string]any
	if st := s.Do(t, "GET", "/_matrix/client/v3/thirdparty/protocols", u.Token, nil, &tp); st != 200 || len(tp) != 0 {
		t.Fatalf("thirdparty/protocols: %d %v", st, tp)
	}
	var pids struct {
		Threepids []any `json:"threepids"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/3pid", u.Token, nil, &pids); st != 200 || pids.Threepids == nil {
		t.Fatalf("3pid: %d %+v", st, pids)
	}
	var pushers struct {
		Pushers []any `json:"pushers"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushers", u.Token, nil, &pushers); st != 200 || pushers.Pushers == nil {
		t.Fatalf("pushers: %d %+v", st, pushers)
	}
	var e mxErr
	if st := s.Do(t, "GET", "/_matrix/client/v3/room_keys/version", u.Token, nil, &e); st != 404 || e.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("room_keys/version: %d %+v", st, e)
	}
}

func TestPushRules(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	u := s.AddUser(t, "alice", "pw")
	type rule struct {
		RuleID  string `json:"rule_id"`
		Default bool   `json:"default"`
		Enabled bool   `json:"enabled"`
		Pattern string `json:"pattern"`
		Actions []any  `json:"actions"`
	}
	var all struct {
		Global map[string][]rule `json:"global"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/", u.Token, nil, &all); st != 200 {
		t.Fatalf("pushrules: %d", st)
	}
	for _, kind := range []string{"override", "content", "room", "sender", "underride"} {
		if _, ok := all.Global[kind]; !ok {
			t.Errorf("kind %s missing", kind)
		}
	}
	if r := all.Global["override"][0]; r.RuleID != ".m.rule.master" || r.Enabled || !r.Default {
		t.Errorf("first override rule: %+v", r)
	}
	if r := all.Global["content"][0]; r.RuleID != ".m.rule.contains_user_name" || r.Pattern != "alice" {
		t.Errorf("content rule: %+v", r)
	}
	if n := len(all.Global["underride"]); n < 5 {
		t.Errorf("%d underride rules", n)
	}
	var global map[string][]rule
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/global/", u.Token, nil, &global); st != 200 || len(global["override"]) != len(all.Global["override"]) {
		t.Fatalf("pushrules/global/: %d", st)
	}
	var one rule
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/global/underride/.m.rule.message", u.Token, nil, &one); st != 200 || one.RuleID != ".m.rule.message" {
		t.Fatalf("one rule: %d %+v", st, one)
	}
	var en struct{ Enabled *bool }
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", u.Token, nil, &en); st != 200 || en.Enabled == nil || *en.Enabled {
		t.Fatalf("enabled: %d %+v", st, en)
	}
	var e mxErr
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/global/override/nope", u.Token, nil, &e); st != 404 || e.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("unknown rule: %d %+v", st, e)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/pushrules/global/nokind/x", u.Token, nil, &e); st != 400 || e.ErrCode != "M_INVALID_PARAM" {
		t.Fatalf("unknown kind: %d %+v", st, e)
	}
}

func TestPresence(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	var p struct {
		Presence  string `json:"presence"`
		StatusMsg string `json:"status_msg"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/presence/@alice:test/status", b.Token, nil, &p); st != 200 || p.Presence != "offline" {
		t.Fatalf("initial: %d %+v", st, p)
	}
	if st := s.Do(t, "PUT", "/_matrix/client/v3/presence/@alice:test/status", a.Token, map[string]any{"presence": "online", "status_msg": "hi"}, nil); st != 200 {
		t.Fatalf("set: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/presence/@alice:test/status", b.Token, nil, &p); st != 200 || p.Presence != "online" || p.StatusMsg != "hi" {
		t.Fatalf("after set: %d %+v", st, p)
	}
	if state, msg, _, ok := s.API.PresenceOf("@alice:test"); !ok || state != "online" || msg != "hi" {
		t.Fatalf("PresenceOf: %q %q %v", state, msg, ok)
	}
	if _, _, _, ok := s.API.PresenceOf("@bob:test"); ok {
		t.Fatal("PresenceOf a user who set none")
	}
	for _, tc := range []struct {
		name, user, token string
		body              any
		status            int
		code              string
	}{
		{"other user's", "@alice:test", b.Token, map[string]any{"presence": "online"}, 403, "M_FORBIDDEN"},
		{"bad value", "@alice:test", a.Token, map[string]any{"presence": "busy"}, 400, "M_INVALID_PARAM"},
		{"missing", "@alice:test", a.Token, map[string]any{}, 400, "M_MISSING_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "PUT", "/_matrix/client/v3/presence/"+tc.user+"/status", tc.token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v", st, e)
			}
		})
	}
	var e mxErr
	if st := s.Do(t, "GET", "/_matrix/client/v3/presence/@nobody:test/status", a.Token, nil, &e); st != 404 || e.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("unknown user: %d %+v", st, e)
	}
}
