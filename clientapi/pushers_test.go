package clientapi_test

import (
	"context"
	"testing"

	"scop/clientapi/clientapitest"
	"scop/homeserver/push"
	pushstore "scop/homeserver/push/sqlitestore"
)

func pushersServer(t *testing.T) *clientapitest.Server {
	return clientapitest.NewServer(t, clientapitest.Options{Setup: func(s *clientapitest.Server) error {
		store, err := pushstore.New(context.Background(), s.DB)
		if err != nil {
			return err
		}
		svc, err := push.New(context.Background(), store, push.Options{})
		if err != nil {
			return err
		}
		s.API.RegisterPushers(svc)
		return nil
	}})
}

func TestPushersSet(t *testing.T) {
	s := pushersServer(t)
	alice := s.AddUser(t, "alice", "pw")
	bob := s.AddUser(t, "bob", "pw")
	const gw = "https://push.example.org/_matrix/push/v1/notify"
	pusher := func(key string, extra map[string]any) map[string]any {
		p := map[string]any{"kind": "http", "app_id": "org.example.app", "pushkey": key, "app_display_name": "Example",
			"device_display_name": "Phone", "lang": "en", "data": map[string]any{"url": gw}}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	list := func(u clientapitest.User) []map[string]any {
		var out struct {
			Pushers []map[string]any `json:"pushers"`
		}
		if st := s.Do(t, "GET", "/_matrix/client/v3/pushers", u.Token, nil, &out); st != 200 || out.Pushers == nil {
			t.Fatalf("GET /pushers: %d", st)
		}
		return out.Pushers
	}
	set := func(u clientapitest.User, body map[string]any) (int, string) {
		var e struct {
			ErrCode string `json:"errcode"`
		}
		st := s.Do(t, "POST", "/_matrix/client/v3/pushers/set", u.Token, body, &e)
		return st, e.ErrCode
	}
	long := string(make([]byte, 513))
	for _, c := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"no pushkey", pusher("", map[string]any{"pushkey": nil}), "M_MISSING_PARAM"},
		{"no kind", func() map[string]any { p := pusher("k", nil); delete(p, "kind"); return p }(), "M_MISSING_PARAM"},
		{"no app_id", func() map[string]any { p := pusher("k", nil); delete(p, "app_id"); return p }(), "M_MISSING_PARAM"},
		{"no data", func() map[string]any { p := pusher("k", nil); delete(p, "data"); return p }(), "M_MISSING_PARAM"},
		{"no url", pusher("k", map[string]any{"data": map[string]any{}}), "M_MISSING_PARAM"},
		{"no lang", func() map[string]any { p := pusher("k", nil); delete(p, "lang"); return p }(), "M_MISSING_PARAM"},
		{"pushkey too long", pusher(long, nil), "M_INVALID_PARAM"},
		{"app_id too long", pusher("k", map[string]any{"app_id": string(make([]rune, 65))}), "M_INVALID_PARAM"},
		{"unknown kind", pusher("k", map[string]any{"kind": "email"}), "M_INVALID_PARAM"},
		{"url without notify path", pusher("k", map[string]any{"data": map[string]any{"url": "https://push.example.org/"}}), "M_INVALID_PARAM"},
		{"url not http", pusher("k", map[string]any{"data": map[string]any{"url": "ftp://x/_matrix/push/v1/notify"}}), "M_INVALID_PARAM"},
		{"unknown format", pusher("k", map[string]any{"data": map[string]any{"url": gw, "format": "fancy"}}), "M_INVALID_PARAM"},
		{"append not a boolean", pusher("k", map[string]any{"append": "yes"}), "M_INVALID_PARAM"},
		{"kind not a string", pusher("k", map[string]any{"kind": 3}), "M_INVALID_PARAM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if st, code := set(alice, c.body); st != 400 || code != c.code {
				t.Fatalf("got %d %s, want 400 %s", st, code, c.code)
			}
		})
	}
	if got := list(alice); len(got) != 0 {
		t.Fatalf("rejected bodies left pushers: %v", got)
	}

	t.Run("set, update and list", func(t *testing.T) {
		if st, code := set(alice, pusher("k1", map[string]any{"profile_tag": "tag"})); st != 200 {
			t.Fatalf("set: %d %s", st, code)
		}
		set(alice, pusher("k1", map[string]any{"lang": "fr"}))
		got := list(alice)
		if len(got) != 1 || got[0]["lang"] != "fr" || got[0]["pushkey"] != "k1" || got[0]["kind"] != "http" ||
			got[0]["data"].(map[string]any)["url"] != gw {
			t.Fatalf("pushers %v", got)
		}
	})
	t.Run("another user takes the pushkey without append", func(t *testing.T) {
		set(bob, pusher("k1", nil))
		if len(list(alice)) != 0 || len(list(bob)) != 1 {
			t.Fatalf("alice %v bob %v", list(alice), list(bob))
		}
	})
	t.Run("append shares the pushkey", func(t *testing.T) {
		set(alice, pusher("k1", map[string]any{"append": true}))
		if len(list(alice)) != 1 || len(list(bob)) != 1 {
			t.Fatalf("alice %v bob %v", list(alice), list(bob))
		}
	})
	t.Run("kind null deletes", func(t *testing.T) {
		if st, code := set(alice, map[string]any{"kind": nil, "app_id": "org.example.app", "pushkey": "k1"}); st != 200 {
			t.Fatalf("delete: %d %s", st, code)
		}
		if len(list(alice)) != 0 || len(list(bob)) != 1 {
			t.Fatalf("alice %v bob %v", list(alice), list(bob))
		}
	})
}

// TestPushersNotServed: without a pushers backend a user has none and
// setting one is M_UNRECOGNIZED.
func TestPushersNotServed(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	u := s.AddUser(t, "alice", "pw")
	var e struct {
		ErrCode string `json:"errcode"`
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/pushers/set", u.Token, map[string]any{}, &e); st != 404 || e.ErrCode != "M_UNRECOGNIZED" {
		t.Fatalf("set: %d %s", st, e.ErrCode)
	}
}
