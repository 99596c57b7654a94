package sytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// pushGateway is a Push Gateway on loopback for the server under test:
// it hands each notification to the channel and answers with reject
// (pushkeys to report as rejected) or {}.
type pushGateway struct {
	srv    *httptest.Server
	got    chan map[string]any
	reject chan []string
}

func (c *T) pushGateway() *pushGateway {
	g := &pushGateway{got: make(chan map[string]any, 32), reject: make(chan []string, 4)}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Notification map[string]any `json:"notification"`
		}
		if r.URL.Path != "/_matrix/push/v1/notify" || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad notify", 400)
			return
		}
		var rejected []string
		select {
		case rejected = <-g.reject:
		default:
		}
		json.NewEncoder(w).Encode(map[string]any{"rejected": append([]string{}, rejected...)})
		g.got <- body.Notification
	}))
	c.Cleanup(g.srv.Close)
	return g
}

func (g *pushGateway) url() string { return g.srv.URL + "/_matrix/push/v1/notify" }

// next waits for a notification of the event (others are skipped).
func (g *pushGateway) next(c *T, eventID string) map[string]any {
	deadline := time.After(20 * time.Second)
	for {
		select {
		case n := <-g.got:
			if n["event_id"] == eventID {
				return n
			}
		case <-deadline:
			c.Fatalf("the gateway got no notification of %s", eventID)
			return nil
		}
	}
}

func httpPusher(pushkey, gwURL string) map[string]any {
	return map[string]any{"kind": "http", "app_id": "org.scop.sytest", "pushkey": pushkey,
		"app_display_name": "sytest", "device_display_name": "sytest device", "lang": "en",
		"data": map[string]any{"url": gwURL}}
}

func pushers(u *Client) []any {
	l, _ := u.Must("GET", cs("/pushers"), nil)["pushers"].([]any)
	return l
}

func TestPushers(t *testing.T) {
	t.Parallel()
	run(t, "SetListDelete", func(c *T) {
		u := c.user()
		u.Must("POST", cs("/pushers/set"), httpPusher("key-1", "https://push.example.org/_matrix/push/v1/notify"))
		l := pushers(u)
		if len(l) != 1 || str(l[0], "pushkey") != "key-1" || str(l[0], "kind") != "http" || str(l[0], "data", "url") == "" {
			c.Fatalf("pushers %v", l)
		}
		u.Must("POST", cs("/pushers/set"), map[string]any{"kind": nil, "app_id": "org.scop.sytest", "pushkey": "key-1"})
		if l := pushers(u); len(l) != 0 {
			c.Fatalf("pushers after delete %v", l)
		}
	})
	run(t, "MissingParams", func(c *T) {
		u := c.user()
		body := httpPusher("k", "https://push.example.org/_matrix/push/v1/notify")
		delete(body, "app_id")
		u.MustErr("POST", cs("/pushers/set"), body, 400, "M_MISSING_PARAM")
		body = httpPusher("k", "https://push.example.org/_matrix/push/v1/notify")
		body["data"] = map[string]any{}
		u.MustErr("POST", cs("/pushers/set"), body, 400, "M_MISSING_PARAM")
	})
	run(t, "InvalidParams", func(c *T) {
		u := c.user()
		u.MustErr("POST", cs("/pushers/set"), httpPusher("k", "https://push.example.org/somewhere"), 400, "M_INVALID_PARAM")
		body := httpPusher("k", "https://push.example.org/_matrix/push/v1/notify")
		body["app_id"] = string(make([]byte, 65))
		u.MustErr("POST", cs("/pushers/set"), body, 400, "M_INVALID_PARAM")
	})
	run(t, "GatewayNotifiedWithHighlight", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		gw := c.pushGateway()
		a.Must("POST", cs("/pushers/set"), httpPusher("key-a", gw.url()))
		id := b.send(room, "plain")
		n := gw.next(c, id)
		if n["room_id"] != room || str(n, "devices", 0, "pushkey") != "key-a" {
			c.Fatalf("notification %v", n)
		}
		r := b.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text",
			"body": "look", "m.mentions": map[string]any{"user_ids": []string{a.UserID}}})
		n = gw.next(c, str(r, "event_id"))
		if get(n, "devices", 0, "tweaks", "highlight") != true {
			c.Fatalf("mention without highlight: %v", n)
		}
	})
	run(t, "RejectedPushkeyRemoved", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		gw := c.pushGateway()
		a.Must("POST", cs("/pushers/set"), httpPusher("key-r", gw.url()))
		gw.reject <- []string{"key-r"}
		gw.next(c, b.send(room, "rejected"))
		deadline := time.Now().Add(10 * time.Second)
		for len(pushers(a)) != 0 {
			if time.Now().After(deadline) {
				c.Fatalf("rejected pusher still listed: %v", pushers(a))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestPushers_Notifications: GET /notifications lists what the push
// rules notify for.
func TestPushers_Notifications(t *testing.T) {
	t.Parallel()
	run(t, "OnlyHighlightAndPaging", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.send(room, "one")
		r := b.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text",
			"body": "two", "m.mentions": map[string]any{"user_ids": []string{a.UserID}}})
		mention := str(r, "event_id")
		last := b.send(room, "three")
		hl, _ := a.Must("GET", cs("/notifications")+"?only=highlight", nil)["notifications"].([]any)
		if len(hl) != 1 || str(hl[0], "event", "event_id") != mention || str(hl[0], "room_id") != room {
			c.Fatalf("highlights %v", hl)
		}
		page := a.Must("GET", cs("/notifications")+"?limit=1", nil)
		if l, _ := page["notifications"].([]any); len(l) != 1 || str(l[0], "event", "event_id") != last || str(page, "next_token") == "" {
			c.Fatalf("first page %v", page)
		}
		next := a.Must("GET", cs("/notifications")+"?limit=1&from="+url.QueryEscape(str(page, "next_token")), nil)
		if l, _ := next["notifications"].([]any); len(l) != 1 || str(l[0], "event", "event_id") != mention {
			c.Fatalf("second page %v", next)
		}
	})
}

// TestPushRules_Evaluated: unread_notifications follow the push rules.
func TestPushRules_Evaluated(t *testing.T) {
	t.Parallel()
	counts := func(s *Sync, room string) (float64, float64) {
		u := s.Rooms.Join[room].UnreadNotifications
		n, _ := get(u, "notification_count").(float64)
		h, _ := get(u, "highlight_count").(float64)
		return n, h
	}
	run(t, "MentionHighlights", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		b.send(room, "plain")
		r := b.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text",
			"body": "look", "m.mentions": map[string]any{"user_ids": []string{a.UserID}}})
		id := str(r, "event_id")
		s := a.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		if n, h := counts(s, room); n != 2 || h != 1 {
			c.Fatalf("counts %v/%v, want 2/1", n, h)
		}
		a.Must("POST", cs("/rooms/%s/receipt/m.read/%s", room, id), map[string]any{})
		a.syncUntil(s.NextBatch, "", func(s *Sync) bool {
			n, h := counts(s, room)
			_, ok := s.Rooms.Join[room]
			return ok && n == 0 && h == 0
		})
	})
	run(t, "NoticeDoesNotCount", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		r := b.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.notice", "body": "bot says"})
		id := str(r, "event_id")
		s := a.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		if n, h := counts(s, room); n != 0 || h != 0 {
			c.Fatalf("counts %v/%v after a notice, want 0/0", n, h)
		}
	})
	run(t, "DontNotifyRoomRule", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("PUT", cs("/pushrules/global/room/%s", room), map[string]any{"actions": []any{"dont_notify"}})
		since := a.sync("").NextBatch
		id := b.send(room, "hush")
		s := a.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		if n, h := counts(s, room); n != 0 || h != 0 {
			c.Fatalf("counts %v/%v in a muted room, want 0/0", n, h)
		}
	})
}
