package sytest

import (
	"net/url"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	t.Parallel()
	run(t, "UnknownEndpoint", func(c *T) {
		c.user().MustErr("GET", "/_matrix/client/v3/no/such/endpoint", nil, 404, "M_UNRECOGNIZED")
		c.anon().MustErr("GET", "/_matrix/client/v3/no/such/endpoint", nil, 404, "M_UNRECOGNIZED")
		c.anon().MustErr("POST", "/_matrix/client/r0/nonsense", "{}", 404, "M_UNRECOGNIZED")
	})
	run(t, "WrongMethod", func(c *T) {
		r := c.user().Do("DELETE", cs("/createRoom"), nil)
		if r.Status != 405 && r.Status != 404 {
			c.Errorf("want 405 (or 404): %s", r)
		}
		if r.Errcode() != "M_UNRECOGNIZED" {
			c.Errorf("want M_UNRECOGNIZED: %s", r)
		}
	})
	run(t, "MissingToken", func(c *T) {
		a := c.anon()
		for _, path := range []string{cs("/account/whoami"), cs("/sync"), cs("/joined_rooms"), cs("/devices")} {
			a.MustErr("GET", path, nil, 401, "M_MISSING_TOKEN")
		}
		a.MustErr("POST", cs("/createRoom"), map[string]any{}, 401, "M_MISSING_TOKEN")
	})
	run(t, "UnknownToken", func(c *T) {
		bad := &Client{c: c, Token: "syt_bogus_token"}
		bad.MustErr("GET", cs("/account/whoami"), nil, 401, "M_UNKNOWN_TOKEN")
		bad.MustErr("POST", cs("/createRoom"), map[string]any{}, 401, "M_UNKNOWN_TOKEN")
	})
	run(t, "UnknownTokenInQuery", func(c *T) {
		c.anon().MustErr("GET", cs("/account/whoami")+"?access_token=bogus", nil, 401, "M_UNKNOWN_TOKEN")
	})
	run(t, "TokenInQuery", func(c *T) {
		u := c.user()
		j := c.anon().Must("GET", cs("/account/whoami")+"?access_token="+url.QueryEscape(u.Token), nil)
		if j["user_id"] != u.UserID {
			c.Errorf("whoami %v", j)
		}
	})
	run(t, "NotJSON", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for _, tc := range []struct{ method, path string }{
			{"POST", cs("/createRoom")},
			{"POST", cs("/login")},
			{"POST", cs("/register")},
			{"PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn())},
			{"PUT", cs("/rooms/%s/state/org.scop.x/", room)},
			{"POST", cs("/rooms/%s/invite", room)},
			{"POST", cs("/user/%s/filter", u.UserID)},
			{"PUT", cs("/user/%s/account_data/org.scop.x", u.UserID)},
			{"PUT", cs("/profile/%s/displayname", u.UserID)},
			{"PUT", cs("/devices/%s", u.DeviceID)},
		} {
			for _, body := range []string{"{not json", "\xff\xfe{}", `{"a":1`} {
				r := u.Do(tc.method, tc.path, body)
				if r.Status != 400 || r.Errcode() != "M_NOT_JSON" {
					c.Errorf("body %q: want 400 M_NOT_JSON: %s", body, r)
				}
			}
		}
	})
	run(t, "WrongTypes", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for _, tc := range []struct {
			method, path string
			body         string
		}{
			{"POST", cs("/createRoom"), `{"name":5}`},
			{"POST", cs("/createRoom"), `{"invite":"@a:b"}`},
			{"POST", cs("/createRoom"), `{"initial_state":{}}`},
			{"POST", cs("/login"), `{"type":5}`},
			{"POST", cs("/rooms/%s/invite", room), `{"user_id":5}`},
			{"POST", cs("/rooms/%s/kick", room), `{"user_id":["x"]}`},
			{"PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), `[1,2]`},
			{"PUT", cs("/rooms/%s/state/org.scop.x/", room), `"a string"`},
			{"PUT", cs("/devices/%s", u.DeviceID), `{"display_name":{}}`},
			{"PUT", cs("/user/%s/account_data/org.scop.x", u.UserID), `[]`},
		} {
			r := u.Do(tc.method, tc.path, tc.body)
			if r.Status != 400 || (r.Errcode() != "M_BAD_JSON" && r.Errcode() != "M_NOT_JSON") {
				c.Errorf("body %s: want 400 M_BAD_JSON: %s", tc.body, r)
			}
		}
	})
	run(t, "MissingRequiredField", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("POST", cs("/rooms/%s/invite", room), map[string]any{}, 400, "")
		u.MustErr("POST", cs("/rooms/%s/kick", room), map[string]any{}, 400, "")
		u.MustErr("POST", cs("/login"), map[string]any{}, 400, "")
	})
	run(t, "UnknownRoom", func(c *T) {
		u := c.user()
		room := "!nosuchroom:" + c.server()
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"body": "x", "msgtype": "m.text"}},
			{"GET", cs("/rooms/%s/messages", room) + "?dir=b", nil},
			{"GET", cs("/rooms/%s/state", room), nil},
			{"GET", cs("/rooms/%s/members", room), nil},
			{"PUT", cs("/rooms/%s/state/m.room.topic/", room), map[string]any{"topic": "x"}},
			{"POST", cs("/rooms/%s/leave", room), map[string]any{}},
			{"POST", cs("/join/%s", room), map[string]any{}},
		} {
			r := u.Do(tc.method, tc.path, tc.body)
			if (r.Status != 403 && r.Status != 404) || (r.Errcode() != "M_FORBIDDEN" && r.Errcode() != "M_NOT_FOUND") {
				c.Errorf("want 403 M_FORBIDDEN or 404 M_NOT_FOUND: %s", r)
			}
		}
	})
	run(t, "BodyTooLarge", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		big := `{"msgtype":"m.text","body":"` + strings.Repeat("a", 20<<20) + `"}`
		u.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), big, 413, "M_TOO_LARGE")
	})
	run(t, "EventTooLarge", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		body := map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 70000)}
		u.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), body, 413, "M_TOO_LARGE")
		u.MustErr("PUT", cs("/rooms/%s/state/org.scop.big/", room), map[string]any{"v": strings.Repeat("y", 70000)}, 413, "M_TOO_LARGE")
	})
	run(t, "EventJustUnderLimit", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		// Leaves room for the envelope (IDs, hashes, signatures) under 65,536 bytes.
		u.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
			map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 60000)})
	})
	run(t, "PowerLevelsForbidSend", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "power_level_content_override": map[string]any{"events_default": 50}})
		b.join(room)
		b.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
			map[string]any{"msgtype": "m.text", "body": "x"}, 403, "M_FORBIDDEN")
		a.send(room, "admin can")
	})
	run(t, "BannedCannotSendOrJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": b.UserID})
		b.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
			map[string]any{"msgtype": "m.text", "body": "x"}, 403, "M_FORBIDDEN")
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "MalformedIDs", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"GET", cs("/rooms/%s/state", "notaroom"), nil},
			{"PUT", cs("/rooms/%s/send/m.room.message/%s", "notaroom", txn()), map[string]any{"body": "x"}},
			{"GET", cs("/rooms/%s/messages", "!") + "?dir=b", nil},
			{"GET", cs("/rooms/%s/event/%s", room, "notanevent"), nil},
			{"GET", cs("/rooms/%s/context/%s", room, "notanevent"), nil},
			{"PUT", cs("/rooms/%s/redact/%s/%s", room, "notanevent", txn()), map[string]any{}},
			{"GET", cs("/profile/%s", "notauser"), nil},
			{"GET", cs("/profile/%s", "@:"), nil},
			{"POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": "notauser"}},
			{"POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": "@@@"}},
			{"POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": ""}},
			{"POST", cs("/join/%s", "#noserver"), map[string]any{}},
			{"POST", cs("/join/%s", "nonsense"), map[string]any{}},
			{"GET", cs("/directory/room/%s", "#"), nil},
			{"GET", cs("/user/%s/filter/%s", "notauser", "1"), nil},
			{"PUT", cs("/user/%s/account_data/x", "notauser"), map[string]any{}},
			{"PUT", cs("/rooms/%s/state/m.room.member/%s", room, "notauser"), map[string]any{"membership": "join"}},
			{"POST", cs("/createRoom"), map[string]any{"invite": []string{"notauser"}}},
		} {
			r := u.Do(tc.method, tc.path, tc.body)
			if r.Status < 400 || r.Status > 499 || r.Errcode() == "" {
				c.Errorf("want a 4xx with errcode: %s", r)
			}
		}
	})
	run(t, "BadQueryParams", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for _, q := range []string{"dir=x", "dir=b&from=garbage-token", "dir=b&limit=abc", "dir=b&filter=%7Bbad"} {
			u.MustErr("GET", cs("/rooms/%s/messages", room)+"?"+q, nil, 400, "")
		}
		for _, q := range []string{"since=garbage", "timeout=abc", "filter=%7Bbad", "set_presence=nonsense", "full_state=maybe"} {
			u.MustErr("GET", cs("/sync")+"?"+q, nil, 400, "")
		}
	})
	run(t, "OddButValidJSONNever500", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
		for _, body := range []string{
			`{"msgtype":"m.text","body":"x","n":1.5}`,
			`{"msgtype":"m.text","body":"x","n":99999999999999999999}`,
			`{"msgtype":"m.text","body":"x","body":"dup"}`,
			`{"msgtype":"m.text","body":"\u0000\ud800"}`,
			`{"deep":` + deep + `}`,
			`{}`,
			`null`,
			``,
		} {
			u.Do("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), body)
			u.Do("PUT", cs("/rooms/%s/state/org.scop.odd/", room), body)
		}
		// createRoom only with bodies that cannot create a room (each room costs).
		for _, body := range []string{`null`, ``, `{"deep":` + deep + `}`, `{"preset":"x","preset":"y"}`} {
			u.Do("POST", cs("/createRoom"), body)
		}
	})
	run(t, "HugeHeadersAndPaths", func(c *T) {
		u := c.user()
		r := u.Do("GET", cs("/rooms/%s/state", "!"+strings.Repeat("a", 10000)+":x"), nil)
		if r.Status < 400 || r.Status > 499 {
			c.Errorf("want a 4xx: %s", r)
		}
	})
}
