package sytest

import (
	"strings"
	"testing"
)

func TestVersions(t *testing.T) {
	t.Parallel()
	run(t, "ListsV1_1ToV1_4", func(c *T) {
		j := c.anon().Must("GET", "/_matrix/client/versions", nil)
		for _, v := range []string{"v1.1", "v1.2", "v1.3", "v1.4"} {
			if !contains(j["versions"], v) {
				c.Errorf("versions %v lacks %s", j["versions"], v)
			}
		}
	})
	run(t, "IgnoresBadToken", func(c *T) {
		// /versions needs no auth: a stale token must not make it fail.
		cl := &Client{c: c, Token: "not-a-token"}
		r := cl.Do("GET", "/_matrix/client/versions", nil)
		if r.Status != 200 {
			c.Errorf("want 200: %s", r)
		}
	})
	run(t, "UnstableFeaturesIsObject", func(c *T) {
		j := c.anon().Must("GET", "/_matrix/client/versions", nil)
		if uf, ok := j["unstable_features"]; ok {
			if _, isMap := uf.(map[string]any); !isMap {
				c.Errorf("unstable_features is not an object: %v", uf)
			}
		}
	})
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	run(t, "RoomVersions", func(c *T) {
		j := c.user().Must("GET", cs("/capabilities"), nil)
		rv := get(j, "capabilities", "m.room_versions")
		def := str(rv, "default")
		if def == "" {
			c.Fatalf("no m.room_versions.default: %v", j)
		}
		avail, _ := get(rv, "available").(map[string]any)
		for _, v := range []string{def, "10", "11", "12"} {
			if s, _ := avail[v].(string); s != "stable" {
				c.Errorf("room version %s not available as stable: %v", v, avail)
			}
		}
	})
	run(t, "ChangePassword", func(c *T) {
		j := c.user().Must("GET", cs("/capabilities"), nil)
		if e, ok := get(j, "capabilities", "m.change_password", "enabled").(bool); ok && !e {
			c.Errorf("m.change_password disabled but /account/password is offered")
		}
	})
	run(t, "NeedsAuth", func(c *T) {
		c.anon().MustErr("GET", cs("/capabilities"), nil, 401, "M_MISSING_TOKEN")
	})
}

func TestPushRules(t *testing.T) {
	t.Parallel()
	run(t, "HasMasterRule", func(c *T) {
		j := c.user().Must("GET", cs("/pushrules/"), nil)
		over, _ := get(j, "global", "override").([]any)
		found := false
		for _, r := range over {
			if str(r, "rule_id") == ".m.rule.master" {
				found = true
			}
		}
		if !found {
			c.Errorf("global.override has no .m.rule.master: %v", get(j, "global", "override"))
		}
		for _, kind := range []string{"content", "room", "sender", "underride"} {
			if _, ok := get(j, "global", kind).([]any); !ok {
				c.Errorf("global.%s is not a list: %v", kind, get(j, "global", kind))
			}
		}
	})
	run(t, "NeedsAuth", func(c *T) {
		c.anon().MustErr("GET", cs("/pushrules/"), nil, 401, "M_MISSING_TOKEN")
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	checkCORS := func(c *T, r *Resp) {
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			c.Errorf("Access-Control-Allow-Origin = %q: %s", got, r)
		}
	}
	preflight := func(c *T, path string) {
		r := c.anon().DoHeaders("OPTIONS", path, nil, map[string]string{
			"Origin":                         "https://app.example",
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "Authorization, Content-Type",
		})
		if r.Status != 200 && r.Status != 204 {
			c.Errorf("preflight %s: want 200 or 204: %s", path, r)
		}
		checkCORS(c, r)
		methods := r.Header.Get("Access-Control-Allow-Methods")
		for _, m := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"} {
			if !strings.Contains(methods, m) {
				c.Errorf("preflight %s: Access-Control-Allow-Methods %q lacks %s", path, methods, m)
			}
		}
		hdrs := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-requested-with"} {
			if !strings.Contains(hdrs, h) {
				c.Errorf("preflight %s: Access-Control-Allow-Headers %q lacks %s", path, hdrs, h)
			}
		}
	}
	run(t, "PreflightSync", func(c *T) { preflight(c, cs("/sync")) })
	run(t, "PreflightAuthedPut", func(c *T) {
		preflight(c, cs("/rooms/%s/send/m.room.message/%s", "!x:example.org", "1"))
	})
	run(t, "PreflightUnknownRoute", func(c *T) { preflight(c, "/_matrix/client/v3/no/such/endpoint") })
	run(t, "PreflightVersions", func(c *T) { preflight(c, "/_matrix/client/versions") })
	run(t, "HeadersOnSuccess", func(c *T) {
		checkCORS(c, c.anon().Do("GET", "/_matrix/client/versions", nil))
	})
	run(t, "HeadersOnError", func(c *T) {
		checkCORS(c, c.anon().Do("GET", cs("/account/whoami"), nil))
	})
}
