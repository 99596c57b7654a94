package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"scop/homeserver/push"
	pushstore "scop/homeserver/push/sqlitestore"
	"scop/homeserver/rooms"
)

// pushRoom is a public room of alice that bob has joined.
func pushRoom(tb testing.TB, cfg rooms.Config) (*env, string) {
	tb.Helper()
	e := newEnv(tb, cfg)
	ctx := context.Background()
	roomID, err := e.svc.CreateRoom(ctx, dev("@alice:test"), rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, dev("@bob:test"), roomID, ""); err != nil {
		tb.Fatal(err)
	}
	return e, roomID
}

func unreadOf(t *testing.T, e *env, user, roomID string) rooms.UnreadCounts {
	t.Helper()
	resp, err := e.svc.Sync(context.Background(), dev(user), rooms.SyncRequest{})
	if err != nil {
		t.Fatal(err)
	}
	jr := resp.Rooms.Join[roomID]
	if jr == nil || jr.Unread == nil {
		t.Fatalf("no unread counts for %s", roomID)
	}
	return *jr.Unread
}

// TestUnreadCountsFromPushRules: counts follow the push rules' actions,
// from memory and, past the recent window, from the database, and an
// own message resets them.
func TestUnreadCountsFromPushRules(t *testing.T) {
	cfg := rooms.DefaultConfig()
	cfg.RecentEvents = 4 // most of the events below are only in the database
	e, roomID := pushRoom(t, cfg)
	ctx := context.Background()
	send := func(user string, content map[string]any) {
		data, _ := json.Marshal(content)
		if _, err := e.svc.Send(ctx, dev(user), roomID, "m.room.message", fmt.Sprint(time.Now().UnixNano()), data); err != nil {
			t.Fatal(err)
		}
	}
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "plain"})
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "hey bob!"}) // user name: highlight
	send("@alice:test", map[string]any{"msgtype": "m.notice", "body": "bob"})    // notices do not notify
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "x", "m.mentions": map[string]any{"user_ids": []string{"@bob:test"}}})
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "* fixed", "m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": "$x"}})
	for i := range 5 {
		send("@alice:test", map[string]any{"msgtype": "m.text", "body": fmt.Sprint("filler ", i)})
	}
	if got := unreadOf(t, e, "@bob:test", roomID); got != (rooms.UnreadCounts{Notification: 8, Highlight: 2}) {
		t.Fatalf("bob's counts %+v, want 8/2", got)
	}
	if got := unreadOf(t, e, "@alice:test", roomID); got != (rooms.UnreadCounts{}) {
		t.Fatalf("the sender's counts %+v", got)
	}
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "bob"})
	if got := unreadOf(t, e, "@bob:test", roomID); got != (rooms.UnreadCounts{Notification: 9, Highlight: 3}) {
		t.Fatalf("bob's counts after one more %+v, want 9/3", got)
	}
	send("@bob:test", map[string]any{"msgtype": "m.text", "body": "read it all"})
	send("@alice:test", map[string]any{"msgtype": "m.text", "body": "ok"})
	if got := unreadOf(t, e, "@bob:test", roomID); got != (rooms.UnreadCounts{Notification: 1}) {
		t.Fatalf("bob's counts after his own message %+v, want 1/0", got)
	}
}

// TestPushRulesChangeCounts: a room rule with no actions stops counting
// that room's later events; events before it (counted or not yet
// counted by a sync) keep their count.
func TestPushRulesChangeCounts(t *testing.T) {
	e, roomID := pushRoom(t, rooms.DefaultConfig())
	ctx := context.Background()
	send := func(body string) {
		if _, err := e.svc.Send(ctx, dev("@alice:test"), roomID, "m.room.message", body, msg(body)); err != nil {
			t.Fatal(err)
		}
	}
	send("one")
	// Bob's client has synced (so his count is cached and is settled
	// with the old rules when they change).
	if got := unreadOf(t, e, "@bob:test", roomID); got.Notification != 1 {
		t.Fatalf("counts %+v, want 1", got)
	}
	send("one more")
	changes, _ := push.ParseChanges(nil)
	changes.Rules["room"] = []push.Rule{{RuleID: roomID, Enabled: true, Actions: []any{"dont_notify"}}}
	content, _ := json.Marshal(map[string]any{"global": changes.Ruleset("@bob:test")})
	if err := e.svc.PutPushRules(ctx, "@bob:test", content); err != nil {
		t.Fatal(err)
	}
	send("two")
	if got := unreadOf(t, e, "@bob:test", roomID); got.Notification != 2 {
		t.Fatalf("counts %+v, want 1", got)
	}
	resp, err := e.svc.Sync(ctx, dev("@bob:test"), rooms.SyncRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range resp.AccountData.Events {
		found = found || strings.Contains(string(ev), `"m.push_rules"`)
	}
	if !found {
		t.Fatalf("no m.push_rules account data in %v", resp.AccountData.Events)
	}
}

// countingGateway is a Push Gateway on loopback that counts notifies.
type countingGateway struct {
	srv *httptest.Server
	n   atomic.Int64
}

func newCountingGateway(tb testing.TB) *countingGateway {
	g := &countingGateway{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.n.Add(1)
		w.Write([]byte(`{}`))
	}))
	tb.Cleanup(g.srv.Close)
	return g
}

// BenchmarkSendWithPusher is BenchmarkSend with the push worker running:
// bob has a pusher, so each message alice sends is evaluated against
// bob's rules and posted to a gateway on loopback. The CPU per message
// includes the worker and the gateway; the loop waits for the worker to
// catch up before stopping the clock.
func BenchmarkSendWithPusher(b *testing.B) {
	e, roomID := pushRoom(b, rooms.DefaultConfig())
	ctx := context.Background()
	store, err := pushstore.New(ctx, e.db)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := push.New(ctx, store, push.Options{})
	if err != nil {
		b.Fatal(err)
	}
	gw := newCountingGateway(b)
	body := fmt.Sprintf(`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"en","data":{"url":%q}}`,
		gw.srv.URL+push.NotifyPath)
	req, err := push.ParseSet("@bob:test", []byte(body))
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Set(ctx, req); err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx, e.svc); err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	start := processCPU()
	d := dev("@alice:test")
	n := int64(0)
	for i := 0; b.Loop(); i++ {
		if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg(fmt.Sprint("bench ", i))); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for deadline := time.Now().Add(time.Minute); gw.n.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	reportCPU(b, start)
}
