package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// gateway is a Push Gateway on loopback: it records each notification
// by pushkey and answers with the scripted replies, then 200 {}.
type gateway struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []func(w http.ResponseWriter) (record bool)
	got     map[string]chan map[string]any
}

func newGateway(t *testing.T, pushkeys ...string) *gateway {
	g := &gateway{got: map[string]chan map[string]any{}}
	for _, k := range pushkeys {
		g.got[k] = make(chan map[string]any, 64)
	}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/push/v1/notify" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		var body struct {
			Notification map[string]any `json:"notification"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		g.mu.Lock()
		var reply func(w http.ResponseWriter) bool
		if len(g.replies) > 0 {
			reply, g.replies = g.replies[0], g.replies[1:]
		}
		g.mu.Unlock()
		if reply != nil && !reply(w) {
			return
		}
		devs, _ := body.Notification["devices"].([]any)
		for _, d := range devs {
			k, _ := d.(map[string]any)["pushkey"].(string)
			if ch := g.got[k]; ch != nil {
				ch <- body.Notification
			}
		}
		if reply == nil {
			w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) script(f func(w http.ResponseWriter) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replies = append(g.replies, f)
}

func (g *gateway) next(t *testing.T, pushkey string) map[string]any {
	t.Helper()
	select {
	case n := <-g.got[pushkey]:
		return n
	case <-time.After(20 * time.Second):
		t.Fatalf("no notification for %s", pushkey)
		return nil
	}
}

// TestPushGateway drives a running scop: a pusher set through the API
// gets the notifications its owner's push rules give, in both formats,
// with highlight for mentions, none for a dont_notify room rule, a retry
// after a gateway failure, counts in /sync that reset at a read receipt,
// and removal of a pushkey the gateway rejects.
func TestPushGateway(t *testing.T) {
	cfg := testConfig(t)
	cfg.ClientAPI.RateLimits.Enabled = false
	for _, u := range []string{"alice", "bob"} {
		if _, err := AddUser(t.Context(), cfg, u, "pw-"+u+"-123", false); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(t.Context()) })
	base := "http://" + a.Addrs().Client + "/_matrix/client/v3"
	call := func(method, path, token string, body any, wantStatus int) map[string]any {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	login := func(user string) (string, string) {
		out := call("POST", "/login", "", map[string]any{"type": "m.login.password", "user": user, "password": "pw-" + user + "-123"}, 200)
		return out["access_token"].(string), out["user_id"].(string)
	}
	aliceTok, aliceID := login("alice")
	bobTok, _ := login("bob")
	gw := newGateway(t, "full-key", "id-key")
	notifyURL := gw.srv.URL + "/_matrix/push/v1/notify"
	pusher := func(key string, data map[string]any) map[string]any {
		return map[string]any{"kind": "http", "app_id": "org.example.app", "pushkey": key, "app_display_name": "Example",
			"device_display_name": "Phone", "lang": "en", "data": data}
	}
	call("POST", "/pushers/set", aliceTok, pusher("full-key", map[string]any{"url": notifyURL, "extra": "kept"}), 200)
	call("POST", "/pushers/set", aliceTok, pusher("id-key", map[string]any{"url": notifyURL, "format": "event_id_only"}), 200)
	if got := call("GET", "/pushers", aliceTok, nil, 200)["pushers"].([]any); len(got) != 2 {
		t.Fatalf("pushers: %v", got)
	}

	room := call("POST", "/createRoom", bobTok, map[string]any{"invite": []string{aliceID}}, 200)["room_id"].(string)
	inv := gw.next(t, "full-key")
	if inv["type"] != "m.room.member" || inv["user_is_target"] != true {
		t.Fatalf("invite notification %v", inv)
	}
	gw.next(t, "id-key")
	call("POST", "/join/"+url.PathEscape(room), aliceTok, map[string]any{}, 200)
	send := func(txn string, content map[string]any) string {
		return call("PUT", "/rooms/"+url.PathEscape(room)+"/send/m.room.message/"+txn, bobTok, content, 200)["event_id"].(string)
	}

	t.Run("full and event_id_only formats", func(t *testing.T) {
		id := send("t1", map[string]any{"msgtype": "m.text", "body": "hello"})
		n := gw.next(t, "full-key")
		if n["event_id"] != id || n["room_id"] != room || n["type"] != "m.room.message" || n["prio"] != "high" {
			t.Fatalf("full notification %v", n)
		}
		if c := n["content"].(map[string]any); c["body"] != "hello" {
			t.Fatalf("content %v", c)
		}
		dev := n["devices"].([]any)[0].(map[string]any)
		data := dev["data"].(map[string]any)
		if dev["app_id"] != "org.example.app" || data["extra"] != "kept" || data["url"] != nil ||
			dev["tweaks"].(map[string]any)["sound"] != "default" || n["counts"].(map[string]any)["unread"] != 1.0 {
			t.Fatalf("device %v counts %v", dev, n["counts"])
		}
		short := gw.next(t, "id-key")
		if short["event_id"] != id || short["content"] != nil || short["sender"] != nil {
			t.Fatalf("event_id_only notification %v", short)
		}
	})
	t.Run("mention highlights", func(t *testing.T) {
		id := send("t2", map[string]any{"msgtype": "m.text", "body": "look", "m.mentions": map[string]any{"user_ids": []string{aliceID}}})
		n := gw.next(t, "full-key")
		gw.next(t, "id-key")
		tw := n["devices"].([]any)[0].(map[string]any)["tweaks"].(map[string]any)
		if n["event_id"] != id || tw["highlight"] != true {
			t.Fatalf("mention notification %v", n)
		}
	})
	unread := func() (float64, float64) {
		out := call("GET", "/sync", aliceTok, nil, 200)
		u := out["rooms"].(map[string]any)["join"].(map[string]any)[room].(map[string]any)["unread_notifications"].(map[string]any)
		return u["notification_count"].(float64), u["highlight_count"].(float64)
	}
	if n, h := unread(); n != 2 || h != 1 {
		t.Fatalf("unread %v/%v, want 2/1", n, h)
	}
	var loud string
	t.Run("dont_notify room rule gives nothing", func(t *testing.T) {
		other := call("POST", "/createRoom", bobTok, map[string]any{"invite": []string{aliceID}}, 200)["room_id"].(string)
		gw.next(t, "full-key")
		gw.next(t, "id-key")
		call("POST", "/join/"+url.PathEscape(other), aliceTok, map[string]any{}, 200)
		rule := "/pushrules/global/room/" + url.PathEscape(room)
		call("PUT", rule, aliceTok, map[string]any{"actions": []any{"dont_notify"}}, 200)
		send("t3", map[string]any{"msgtype": "m.text", "body": "quiet"})
		elsewhere := call("PUT", "/rooms/"+url.PathEscape(other)+"/send/m.room.message/o1", bobTok,
			map[string]any{"msgtype": "m.text", "body": "elsewhere"}, 200)["event_id"].(string)
		if n := gw.next(t, "full-key"); n["event_id"] != elsewhere {
			t.Fatalf("after the quiet message got %v, want %s", n["event_id"], elsewhere)
		}
		gw.next(t, "id-key")
		if n, h := unread(); n != 2 || h != 1 {
			t.Fatalf("unread %v/%v, want 2/1", n, h)
		}
		call("DELETE", rule, aliceTok, nil, 200)
		// The gateway fails once: the notification comes on the retry.
		gw.script(func(w http.ResponseWriter) bool { w.WriteHeader(500); return false })
		loud = send("t4", map[string]any{"msgtype": "m.text", "body": "loud"})
		if n := gw.next(t, "full-key"); n["event_id"] != loud {
			t.Fatalf("got %v, want %s", n["event_id"], loud)
		}
		gw.next(t, "id-key")
		if n, h := unread(); n != 3 || h != 1 {
			t.Fatalf("unread %v/%v, want 3/1", n, h)
		}
	})
	t.Run("read receipt resets counts", func(t *testing.T) {
		call("POST", "/rooms/"+url.PathEscape(room)+"/receipt/m.read/"+url.PathEscape(loud), aliceTok, map[string]any{}, 200)
		if n, h := unread(); n != 0 || h != 0 {
			t.Fatalf("unread after receipt %v/%v", n, h)
		}
	})
	t.Run("notifications list", func(t *testing.T) {
		hl := call("GET", "/notifications?only=highlight", aliceTok, nil, 200)["notifications"].([]any)
		if len(hl) != 1 || hl[0].(map[string]any)["event"].(map[string]any)["content"].(map[string]any)["body"] != "look" ||
			hl[0].(map[string]any)["read"] != true || hl[0].(map[string]any)["room_id"] != room {
			t.Fatalf("highlights %v", hl)
		}
		page := call("GET", "/notifications?limit=1", aliceTok, nil, 200)
		first := page["notifications"].([]any)
		if len(first) != 1 || first[0].(map[string]any)["event"].(map[string]any)["event_id"] != loud || page["next_token"] == nil {
			t.Fatalf("first page %v", page)
		}
		next := call("GET", "/notifications?limit=1&from="+url.QueryEscape(page["next_token"].(string)), aliceTok, nil, 200)
		if n := next["notifications"].([]any); len(n) != 1 || n[0].(map[string]any)["event"].(map[string]any)["event_id"] == loud {
			t.Fatalf("second page %v", next)
		}
		call("GET", "/notifications?only=everything", aliceTok, nil, 400)
	})
	t.Run("rejected pushkey is removed", func(t *testing.T) {
		gw.script(func(w http.ResponseWriter) bool { w.Write([]byte(`{"rejected":["full-key"]}`)); return true })
		send("t5", map[string]any{"msgtype": "m.text", "body": "bye"})
		gw.next(t, "full-key")
		gw.next(t, "id-key") // sent after the rejection was handled
		got := call("GET", "/pushers", aliceTok, nil, 200)["pushers"].([]any)
		if len(got) != 1 || got[0].(map[string]any)["pushkey"] != "id-key" {
			t.Fatalf("pushers after rejection: %v", got)
		}
	})
}
