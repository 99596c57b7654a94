package clientapi_test

import (
	"context"
	"slices"
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

func passwordAuth(session, user, password string) map[string]any {
	a := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	if session != "" {
		a["session"] = session
	}
	return a
}

func TestDevices(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser2(t, "alice", "pw")
	other := s.AddUser(t, "bob", "pw")

	var list struct {
		Devices []struct {
			DeviceID   string `json:"device_id"`
			LastSeenTS int64  `json:"last_seen_ts"`
		} `json:"devices"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/devices", a.Token, nil, &list); st != 200 || len(list.Devices) != 2 || list.Devices[0].LastSeenTS == 0 {
		t.Fatalf("list: %d %+v", st, list)
	}
	if st := s.Do(t, "PUT", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, map[string]any{"display_name": "Phone"}, nil); st != 200 {
		t.Fatalf("rename: %d", st)
	}
	var d struct {
		DeviceID    string `json:"device_id"`
		DisplayName string `json:"display_name"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, nil, &d); st != 200 || d.DisplayName != "Phone" || d.DeviceID != b.DeviceID {
		t.Fatalf("get: %d %+v", st, d)
	}
	errTests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"get unknown", "GET", "/devices/NOPE", a.Token, nil, 404, "M_NOT_FOUND"},
		{"get another user's", "GET", "/devices/" + other.DeviceID, a.Token, nil, 404, "M_NOT_FOUND"},
		{"rename unknown", "PUT", "/devices/NOPE", a.Token, map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"rename wrong type", "PUT", "/devices/" + b.DeviceID, a.Token, map[string]any{"display_name": 3}, 400, "M_BAD_JSON"},
		{"delete unknown", "DELETE", "/devices/NOPE", a.Token, nil, 404, "M_NOT_FOUND"},
		{"delete_devices without list", "POST", "/delete_devices", a.Token, map[string]any{}, 400, "M_MISSING_PARAM"},
		{"no token", "GET", "/devices", "", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, tc.method, "/_matrix/client/v3"+tc.path, tc.token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}

	// Deleting needs the password through user-interactive auth.
	var u uiaResp
	if st := s.Do(t, "DELETE", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, map[string]any{}, &u); st != 401 || u.Flows[0].Stages[0] != "m.login.password" {
		t.Fatalf("delete without auth: %d %+v", st, u)
	}
	var u2 uiaResp
	if st := s.Do(t, "DELETE", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, map[string]any{"auth": passwordAuth(u.Session, "alice", "wrong")}, &u2); st != 401 || u2.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("delete with wrong password: %d %+v", st, u2)
	}
	if st := s.Do(t, "DELETE", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, map[string]any{"auth": passwordAuth(u.Session, "bob", "pw")}, &u2); st != 401 || u2.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("delete authenticating as another user: %d %+v", st, u2)
	}
	if st := s.Do(t, "DELETE", "/_matrix/client/v3/devices/"+b.DeviceID, a.Token, map[string]any{"auth": passwordAuth(u.Session, "@alice:test", "pw")}, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", b.Token, nil, nil); st != 401 {
		t.Fatalf("deleted device's token: %d", st)
	}

	c := s.AddUser2(t, "alice", "pw")
	if st := s.Do(t, "POST", "/_matrix/client/v3/delete_devices", a.Token, map[string]any{"devices": []string{c.DeviceID, "NOPE"},
		"auth": passwordAuth("", "alice", "pw")}, nil); st != 200 {
		t.Fatalf("delete_devices: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", c.Token, nil, nil); st != 401 {
		t.Fatalf("token after delete_devices: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", other.Token, nil, nil); st != 200 {
		t.Fatalf("other user's token: %d", st)
	}
}

func TestChangePassword(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "old")
	b := s.AddUser2(t, "alice", "old")
	var e mxErr
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/password", a.Token, map[string]any{}, &e); st != 400 || e.ErrCode != "M_MISSING_PARAM" {
		t.Fatalf("no new_password: %d %+v", st, e)
	}
	var u uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/password", a.Token, map[string]any{"new_password": "new"}, &u); st != 401 || u.Session == "" {
		t.Fatalf("without auth: %d %+v", st, u)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/password", a.Token, map[string]any{"new_password": "new",
		"auth": passwordAuth(u.Session, "alice", "old")}, nil); st != 200 {
		t.Fatalf("change: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", a.Token, nil, nil); st != 200 {
		t.Fatalf("caller's token after change: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", b.Token, nil, nil); st != 401 {
		t.Fatalf("other device after change with logout_devices default: %d", st)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "old"), nil); st != 403 {
		t.Fatalf("old password: %d", st)
	}
	c := s.AddUser2(t, "alice", "new")
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/password", a.Token, map[string]any{"new_password": "newer", "logout_devices": false,
		"auth": passwordAuth("", "alice", "new")}, nil); st != 200 {
		t.Fatalf("change keeping devices: %d", st)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", c.Token, nil, nil); st != 200 {
		t.Fatalf("device kept: %d", st)
	}
}

func TestProfile(t *testing.T) {
	var changes []string
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{
		OnProfileChange: func(ctx context.Context, userID, name, avatar string) error {
			changes = append(changes, userID+"|"+name+"|"+avatar)
			return nil
		}}})
	a := s.AddUser(t, "alice", "pw")
	bob := s.AddUser(t, "bob", "pw")
	var p struct {
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/profile/@alice:test", "", nil, &p); st != 200 || p.DisplayName != "alice" {
		t.Fatalf("default profile: %d %+v", st, p)
	}
	if st := s.Do(t, "PUT", "/_matrix/client/v3/profile/@alice:test/displayname", a.Token, map[string]any{"displayname": "Alice A."}, nil); st != 200 {
		t.Fatalf("set name: %d", st)
	}
	if st := s.Do(t, "PUT", "/_matrix/client/v3/profile/@alice:test/avatar_url", a.Token, map[string]any{"avatar_url": "mxc://test/abc"}, nil); st != 200 {
		t.Fatalf("set avatar: %d", st)
	}
	want := []string{"@alice:test|Alice A.|", "@alice:test|Alice A.|mxc://test/abc"}
	if !slices.Equal(changes, want) {
		t.Fatalf("profile changes told to rooms: %q, want %q", changes, want)
	}
	p.DisplayName, p.AvatarURL = "", ""
	if st := s.Do(t, "GET", "/_matrix/client/v3/profile/@alice:test", "", nil, &p); st != 200 || p.DisplayName != "Alice A." || p.AvatarURL != "mxc://test/abc" {
		t.Fatalf("profile: %d %+v", st, p)
	}
	p.DisplayName = ""
	if st := s.Do(t, "GET", "/_matrix/client/v3/profile/@alice:test/displayname", "", nil, &p); st != 200 || p.DisplayName != "Alice A." {
		t.Fatalf("displayname: %d %+v", st, p)
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"unknown user", "GET", "/profile/@nobody:test", "", nil, 404, "M_NOT_FOUND"},
		{"remote user", "GET", "/profile/@alice:elsewhere", "", nil, 404, "M_NOT_FOUND"},
		{"not a user ID", "GET", "/profile/alice/displayname", "", nil, 404, "M_NOT_FOUND"},
		{"someone else's", "PUT", "/profile/@alice:test/displayname", bob.Token, map[string]any{"displayname": "x"}, 403, "M_FORBIDDEN"},
		{"wrong type", "PUT", "/profile/@alice:test/displayname", a.Token, map[string]any{"displayname": 1}, 400, "M_BAD_JSON"},
		{"missing field", "PUT", "/profile/@alice:test/avatar_url", a.Token, map[string]any{}, 400, "M_MISSING_PARAM"},
		{"no token", "PUT", "/profile/@alice:test/displayname", "", map[string]any{"displayname": "x"}, 401, "M_MISSING_TOKEN"},
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

func TestDeactivate(t *testing.T) {
	var left []string
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{
		OnDeactivate: func(ctx context.Context, userID string) error { left = append(left, userID); return nil }}})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser2(t, "alice", "pw")
	var u uiaResp
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/deactivate", a.Token, map[string]any{}, &u); st != 401 || u.Session == "" {
		t.Fatalf("without auth: %d %+v", st, u)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/deactivate", a.Token, map[string]any{"auth": passwordAuth(u.Session, "alice", "bad")}, &u); st != 401 || u.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("wrong password: %d %+v", st, u)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/account/deactivate", a.Token, map[string]any{"auth": passwordAuth(u.Session, "alice", "pw")}, nil); st != 200 {
		t.Fatalf("deactivate: %d", st)
	}
	if !slices.Equal(left, []string{"@alice:test"}) {
		t.Fatalf("rooms told: %q", left)
	}
	for _, tok := range []string{a.Token, b.Token} {
		if st := s.Do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil, nil); st != 401 {
			t.Fatalf("token after deactivation: %d", st)
		}
	}
	var e mxErr
	if st := s.Do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "pw"), &e); st != 403 || e.ErrCode != "M_USER_DEACTIVATED" {
		t.Fatalf("login after deactivation: %d %+v", st, e)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/register/available?username=alice", "", nil, &e); st != 400 || e.ErrCode != "M_USER_IN_USE" {
		t.Fatalf("name after deactivation: %d %+v", st, e)
	}
}

func TestWhois(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	if _, err := s.Accounts.Register(t.Context(), "admin", "pw", true); err != nil {
		t.Fatal(err)
	}
	admin := s.AddUser2(t, "admin", "pw")
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	var w struct {
		UserID  string `json:"user_id"`
		Devices map[string]struct {
			Sessions []struct {
				Connections []struct {
					IP       string `json:"ip"`
					LastSeen int64  `json:"last_seen"`
				} `json:"connections"`
			} `json:"sessions"`
		} `json:"devices"`
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/admin/whois/@alice:test", admin.Token, nil, &w); st != 200 || w.UserID != "@alice:test" ||
		len(w.Devices[a.DeviceID].Sessions[0].Connections) != 1 || w.Devices[a.DeviceID].Sessions[0].Connections[0].IP != "127.0.0.1" {
		t.Fatalf("admin whois: %d %+v", st, w)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/admin/whois/@alice:test", a.Token, nil, nil); st != 200 {
		t.Fatalf("whois self: %d", st)
	}
	var e mxErr
	if st := s.Do(t, "GET", "/_matrix/client/v3/admin/whois/@alice:test", b.Token, nil, &e); st != 403 || e.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("whois by non-admin: %d %+v", st, e)
	}
	if st := s.Do(t, "GET", "/_matrix/client/v3/admin/whois/@nobody:test", admin.Token, nil, &e); st != 404 || e.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("whois unknown: %d %+v", st, e)
	}
}
