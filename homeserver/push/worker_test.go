package push_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"scop/homeserver/push"
)

// stream is a push.Source over a fixed list of notices for alice.
type stream struct {
	mu      sync.Mutex
	notices []push.Notice
	changed chan struct{}
}

func (s *stream) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pos := int64(len(s.notices) + 1)
	s.notices = append(s.notices, push.Notice{Pos: pos, EventID: id, RoomID: "!r:x", Type: "m.room.message", Sender: "@b:x",
		Targets: []push.Target{{UserID: "@a:x", Actions: push.Actions{Notify: true}}}})
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *stream) StreamPosition() (int64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.notices)), s.changed
}

func (s *stream) PushNotices(_ context.Context, from int64, limit int, users map[string]bool) ([]push.Notice, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []push.Notice
	for _, n := range s.notices[from:] {
		if users[n.Targets[0].UserID] && len(out) < limit {
			out = append(out, n)
		}
	}
	return out, int64(len(s.notices)), nil
}

func (s *stream) UnreadTotal(context.Context, string) (int, error) { return 7, nil }

// memStore is an in-memory push.Store.
type memStore struct {
	mu      sync.Mutex
	pushers []push.Pusher
	pos     int64
	hasPos  bool
}

func (m *memStore) Pushers(context.Context) ([]push.Pusher, error) { return m.pushers, nil }
func (m *memStore) SetPusher(_ context.Context, p push.Pusher, _ bool) error {
	m.pushers = append(m.pushers, p)
	return nil
}
func (m *memStore) DeletePusher(context.Context, string, string, string) error { return nil }
func (m *memStore) Position(context.Context) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, m.hasPos, nil
}
func (m *memStore) SetPosition(_ context.Context, pos int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos, m.hasPos = pos, true
	return nil
}

// TestWorkerDropsAfterMaxAttempts: a gateway that keeps failing holds
// one notification for MaxAttempts tries only; the next one gets
// through, and Close records the position reached.
func TestWorkerDropsAfterMaxAttempts(t *testing.T) {
	got := make(chan string, 16)
	var mu sync.Mutex
	attempts := map[string]int{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Notification struct {
				EventID string         `json:"event_id"`
				Counts  map[string]int `json:"counts"`
			} `json:"notification"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		attempts[body.Notification.EventID]++
		mu.Unlock()
		if body.Notification.EventID == "$dead" {
			w.WriteHeader(502)
			return
		}
		if body.Notification.Counts["unread"] != 7 {
			t.Errorf("counts %v", body.Notification.Counts)
		}
		w.Write([]byte(`{}`))
		got <- body.Notification.EventID
	}))
	defer gw.Close()
	ctx := context.Background()
	store := &memStore{}
	svc, err := push.New(ctx, store, push.Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	req, err := push.ParseSet("@a:x", []byte(`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A",
		"device_display_name":"D","lang":"en","data":{"url":"`+gw.URL+push.NotifyPath+`","format":"event_id_only"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Set(ctx, req); err != nil {
		t.Fatal(err)
	}
	src := &stream{changed: make(chan struct{})}
	if err := svc.Start(ctx, src); err != nil {
		t.Fatal(err)
	}
	src.add("$dead")
	src.add("$alive")
	next := func(want string) {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("got %s, want %s", id, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no notification")
		}
	}
	next("$alive")
	src.add("$third") // delivered after $alive was acknowledged
	next("$third")
	svc.Close()
	mu.Lock()
	defer mu.Unlock()
	if attempts["$dead"] != 3 || attempts["$alive"] != 1 {
		t.Fatalf("attempts %v", attempts)
	}
	// $third may have been cut short by Close: at least once delivery.
	if pos, ok, _ := store.Position(ctx); !ok || pos < 2 {
		t.Fatalf("position after close %d %v", pos, ok)
	}
}

// TestRemoveUser: a deactivated user's pushers are gone.
func TestRemoveUser(t *testing.T) {
	ctx := context.Background()
	svc, err := push.New(ctx, &memStore{}, push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k1", "k2"} {
		req, err := push.ParseSet("@a:x", []byte(`{"kind":"http","app_id":"a","pushkey":"`+key+`","app_display_name":"A",
			"device_display_name":"D","lang":"en","data":{"url":"https://gw/_matrix/push/v1/notify"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Set(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if len(svc.Pushers(ctx, "@a:x")) != 2 || !svc.HasPushers("@a:x") {
		t.Fatal("pushers not set")
	}
	if err := svc.RemoveUser(ctx, "@a:x"); err != nil {
		t.Fatal(err)
	}
	if len(svc.Pushers(ctx, "@a:x")) != 0 || svc.HasPushers("@a:x") {
		t.Fatal("pushers left after RemoveUser")
	}
}
