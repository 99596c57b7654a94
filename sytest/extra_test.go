package sytest

import (
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestBadInput_More(t *testing.T) {
	t.Parallel()
	run(t, "EscapedSlashInIDs", func(c *T) {
		u := c.user()
		for _, path := range []string{
			cs("/rooms/%s/state", "!a/b:"+c.server()),
			cs("/rooms/%s/event/%s", "!a/b:"+c.server(), "$x/y"),
			cs("/profile/%s", "@a/b:"+c.server()),
		} {
			r := u.Do("GET", path, nil)
			if r.Status < 400 || r.Status > 499 || r.Errcode() == "" {
				c.Errorf("want a 4xx with errcode: %s", r)
			}
		}
	})
	run(t, "HugeLimitsClamped", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "x")
		for _, path := range []string{
			cs("/rooms/%s/messages", room) + "?dir=b&limit=1000000000",
			cs("/rooms/%s/messages", room) + "?dir=b&limit=-5",
			cs("/sync") + "?" + url.Values{"filter": {`{"room":{"timeline":{"limit":1000000000}}}`}}.Encode(),
			cs("/sync") + "?timeout=-1",
		} {
			r := u.Do("GET", path, nil)
			if r.Status != 200 && (r.Status < 400 || r.Status > 499) {
				c.Errorf("want 200 (clamped) or 4xx: %s", r)
			}
		}
	})
	run(t, "LongEventTypeAndTxnID", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		long := strings.Repeat("t", 300)
		r := u.Do("PUT", cs("/rooms/%s/send/%s/%s", room, long, txn()), map[string]any{})
		if r.Status != 400 && r.Status != 413 {
			c.Errorf("event type of 300 bytes (spec max 255): want 400: %s", r)
		}
		r = u.Do("PUT", cs("/rooms/%s/state/org.scop.x/%s", room, strings.Repeat("k", 300)), map[string]any{})
		if r.Status != 400 && r.Status != 413 {
			c.Errorf("state key of 300 bytes (spec max 255): want 400: %s", r)
		}
		r = u.Do("PUT", cs("/rooms/%s/send/m.room.message/%s", room, strings.Repeat("x", 4000)), map[string]any{"body": "x", "msgtype": "m.text"})
		if r.Status >= 500 {
			c.Errorf("long txnId: %s", r)
		}
	})
	run(t, "ManyInvitesInCreateRoom", func(c *T) {
		u := c.user()
		var inv []string
		for i := 0; i < 500; i++ {
			inv = append(inv, "@"+uniq("nobody")+":"+c.server())
		}
		r := u.Do("POST", cs("/createRoom"), map[string]any{"invite": inv})
		if r.Status >= 500 {
			c.Errorf("500 invites: %s", r)
		}
	})
}

func TestState_Keys(t *testing.T) {
	t.Parallel()
	run(t, "StateKeyWithSlash", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.Must("PUT", cs("/rooms/%s/state/org.scop.x/%s", room, "a/b"), map[string]any{"v": "slash"})
		if v := u.state(room, "org.scop.x", "a/b")["v"]; v != "slash" {
			c.Errorf("state key a/b: %v", v)
		}
		// And unescaped in the path, as some clients send it.
		j := u.Must("GET", cs("/rooms/%s/state/org.scop.x/", room)+"a/b", nil)
		if j["v"] != "slash" {
			c.Errorf("unescaped a/b: %v", j)
		}
	})
	run(t, "UnicodeStateKey", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.setState(room, "org.scop.x", "ключ 🔑", map[string]any{"v": 1})
		if v := u.state(room, "org.scop.x", "ключ 🔑")["v"]; v != float64(1) {
			c.Errorf("unicode state key: %v", v)
		}
	})
}

func TestRegistration_More(t *testing.T) {
	t.Parallel()
	run(t, "GeneratedUsername", func(c *T) {
		body := map[string]any{"password": password}
		r := c.anon().Do("POST", cs("/register"), body)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": str(r.JSON, "session")}
		j := c.anon().Must("POST", cs("/register"), body)
		if !strings.HasPrefix(str(j, "user_id"), "@") || str(j, "access_token") == "" {
			c.Errorf("register without username: %v", j)
		}
	})
	run(t, "ConcurrentSameUsername", func(c *T) {
		local := uniq("race")
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := c.anon()
				body := map[string]any{"username": local, "password": password}
				r := a.Do("POST", cs("/register"), body)
				body["auth"] = map[string]any{"type": "m.login.dummy", "session": str(r.JSON, "session")}
				r = a.Do("POST", cs("/register"), body)
				switch {
				case r.Status == 200:
					mu.Lock()
					ok++
					mu.Unlock()
				case r.Errcode() != "M_USER_IN_USE":
					c.Errorf("losing racer: want 400 M_USER_IN_USE: %s", r)
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			c.Errorf("%d of 5 racing registrations of one name succeeded", ok)
		}
	})
}

func TestSync_FanOut(t *testing.T) {
	t.Parallel()
	run(t, "OneSendWakesManyLongPolls", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		const n = 12
		type poll struct {
			cl    *Client
			since string
		}
		var polls []poll
		for i := 0; i < n; i++ {
			u := c.user()
			u.join(room)
			polls = append(polls, poll{cl: u})
		}
		// Tokens after all joins, so that only the send can end the polls.
		for i := range polls {
			polls[i].since = polls[i].cl.sync("").NextBatch
		}
		results := make(chan bool, n)
		for _, p := range polls {
			go func() {
				q := url.Values{"since": {p.since}, "timeout": {"20000"}}
				r, err := p.cl.try("GET", cs("/sync")+"?"+q.Encode(), nil, nil)
				if err != nil || r.Status != 200 {
					results <- false
					return
				}
				var s Sync
				if decodeBytes(r.Body, &s) != nil {
					results <- false
					return
				}
				results <- len(bodies(s.Rooms.Join[room].Timeline.Events)) > 0
			}()
		}
		a.send(room, "wake everyone")
		got := 0
		for i := 0; i < n; i++ {
			if <-results {
				got++
			}
		}
		// A poll that started after the send returns at once with it, so
		// every poll must see the message.
		if got != n {
			c.Errorf("%d of %d long polls returned the message", got, n)
		}
	})
}

func TestBadInput_Bodies(t *testing.T) {
	t.Parallel()
	run(t, "BodyTooLargeUnauthenticated", func(c *T) {
		big := `{"type":"m.login.password","password":"` + strings.Repeat("a", 20<<20) + `"}`
		c.anon().MustErr("POST", cs("/login"), big, 413, "M_TOO_LARGE")
		c.anon().MustErr("POST", cs("/register"), big, 413, "M_TOO_LARGE")
	})
	run(t, "AnyContentTypeAccepted", func(c *T) {
		u := c.user()
		r := u.DoHeaders("POST", cs("/createRoom"), `{"name":"ct"}`, map[string]string{"Content-Type": "text/plain"})
		if r.Status != 200 {
			c.Errorf("JSON body sent as text/plain: want 200: %s", r)
		}
	})
	run(t, "EmptyBodyOnPost", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		r := u.Do("POST", cs("/rooms/%s/leave", room), nil)
		if r.Status != 200 && (r.Status != 400 || r.Errcode() != "M_NOT_JSON") {
			c.Errorf("POST without a body: want 200 or 400 M_NOT_JSON: %s", r)
		}
	})
}

func TestRegistration_Guests(t *testing.T) {
	t.Parallel()
	run(t, "GuestCannotCreateRoom", func(c *T) {
		r := c.anon().Do("POST", cs("/register")+"?kind=guest", map[string]any{})
		if r.Status == 403 {
			c.Skipf("guest registration disabled: %s", r)
		}
		if r.Status != 200 || str(r.JSON, "access_token") == "" {
			c.Fatalf("guest registration: want 200 or 403: %s", r)
		}
		g := &Client{c: c, Token: str(r.JSON, "access_token"), UserID: str(r.JSON, "user_id")}
		g.MustErr("POST", cs("/createRoom"), map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}
