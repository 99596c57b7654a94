package rooms_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"scop/homeserver"
	"scop/homeserver/rooms"
	"scop/homeserver/storage/sqlite"
)

// profiles is a fixed set of local users.
type profiles map[string]string

func (p profiles) Profile(_ context.Context, userID string) (string, string, error) {
	name, ok := p[userID]
	if !ok {
		return "", "", homeserver.Errorf(homeserver.ErrNotFound, "no such user")
	}
	return name, "", nil
}

var users = profiles{"@alice:test": "Alice", "@bob:test": "Bob", "@carol:test": "Carol"}

// env is a service on a SQLite file that can be restarted.
type env struct {
	path  string
	key   ed25519.PrivateKey
	cfg   rooms.Config
	db    *sql.DB
	store *sqlite.RoomsStore
	svc   *rooms.Service
}

func newEnv(tb testing.TB, cfg rooms.Config) *env {
	tb.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	e := &env{path: filepath.Join(tb.TempDir(), "hs.db"), key: key, cfg: cfg}
	e.start(tb)
	tb.Cleanup(e.stop)
	return e
}

func (e *env) start(tb testing.TB) {
	tb.Helper()
	db, err := sqlite.Open(e.path)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := sqlite.NewRoomsStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := rooms.New(context.Background(), e.cfg, rooms.Identity{ServerName: "test", KeyID: "ed25519:k", Key: e.key},
		store, store, store, users, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	e.db, e.store, e.svc = db, store, svc
}

func (e *env) stop() {
	if e.svc != nil {
		e.svc.Close()
		e.store.Close()
		e.db.Close()
		e.svc = nil
	}
}

func (e *env) restart(tb testing.TB) {
	e.stop()
	e.start(tb)
}

func dev(user string) homeserver.Device {
	return homeserver.Device{UserID: user, DeviceID: "D" + user[1:4]}
}

func msg(body string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))
}

func TestRestartKeepsRoomsStateAndTxns(t *testing.T) {
	ctx := context.Background()
	cfg := rooms.DefaultConfig()
	cfg.CheckpointEvery = 3 // exercise delta chains and checkpoints
	cfg.RecentEvents = 4    // and timeline reads past the cache
	e := newEnv(t, cfg)
	alice, bob := dev("@alice:test"), dev("@bob:test")
	roomID, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "public_chat", Name: "Persist", RoomAliasName: "persist"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, bob, "#persist:test", ""); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 10 {
		id, err := e.svc.Send(ctx, alice, roomID, "m.room.message", fmt.Sprintf("t%d", i), msg(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i%3 == 0 {
			if _, err := e.svc.SetState(ctx, alice, roomID, "m.room.topic", "", json.RawMessage(fmt.Sprintf(`{"topic":"topic %d"}`, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, err := e.svc.State(ctx, alice, roomID)
	if err != nil {
		t.Fatal(err)
	}
	stateAt3, err := e.svc.StateAt(ctx, ids[4])
	if err != nil {
		t.Fatal(err)
	}
	e.restart(t)

	after, err := e.svc.State(ctx, alice, roomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("state has %d events after restart, %d before", len(after), len(before))
	}
	topic, err := e.svc.StateEvent(ctx, bob, roomID, "m.room.topic", "")
	if err != nil || string(topic) != `{"topic":"topic 9"}` {
		t.Errorf("topic after restart: %s %v", topic, err)
	}
	// The state before ids[4] (sent after the topic of i=3) has that topic.
	stateAt3b, err := e.svc.StateAt(ctx, ids[4])
	if err != nil || len(stateAt3b) != len(stateAt3) {
		t.Fatalf("state at event: %d vs %d events (%v)", len(stateAt3b), len(stateAt3), err)
	}
	for _, ev := range stateAt3b {
		if ev.Type == "m.room.topic" && string(ev.PDU.Content()) != `{"topic":"topic 3"}` {
			t.Errorf("topic at ids[4]: %s", ev.PDU.Content())
		}
	}
	// The same transaction ID returns the stored event.
	again, err := e.svc.Send(ctx, alice, roomID, "m.room.message", "t5", msg("5"))
	if err != nil || again != ids[5] {
		t.Errorf("txn after restart: %s %v, want %s", again, err, ids[5])
	}
	// Sending continues the DAG, and sync (reading past the small cache) sees everything once.
	if _, err := e.svc.Send(ctx, bob, roomID, "m.room.message", "b1", msg("from bob")); err != nil {
		t.Fatal(err)
	}
	filter := `{"room":{"timeline":{"limit":50}}}`
	resp, err := e.svc.Sync(ctx, bob, rooms.SyncRequest{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	tl := resp.Rooms.Join[roomID].Timeline
	seen := map[string]int{}
	for _, raw := range tl.Events {
		var ev struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(raw, &ev)
		seen[ev.EventID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s seen %d times", id, seen[id])
		}
	}
	if tl.Limited {
		t.Error("timeline limited with limit 50")
	}
	if rid, _, err := e.svc.ResolveAlias(ctx, "#persist:test"); err != nil || rid != roomID {
		t.Errorf("alias after restart: %s %v", rid, err)
	}
}

// TestConcurrentSendsSyncExactlyOnce sends from many goroutines while a
// reader follows with incremental syncs: every event arrives exactly once.
func TestConcurrentSendsSyncExactlyOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, rooms.DefaultConfig())
	alice, bob := dev("@alice:test"), dev("@bob:test")
	roomID, err := e.svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, bob, roomID, ""); err != nil {
		t.Fatal(err)
	}
	first, err := e.svc.Sync(ctx, bob, rooms.SyncRequest{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 40
	var wg sync.WaitGroup
	sent := make(chan string, writers*each)
	for w := range writers {
		wg.Go(func() {
			d := alice
			d.DeviceID = fmt.Sprintf("W%d", w)
			for i := range each {
				id, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg("c"))
				if err != nil {
					t.Error(err)
					return
				}
				sent <- id
			}
		})
	}
	seen := map[string]int{}
	since := first.NextBatch
	filter := `{"room":{"timeline":{"limit":1000}}}`
	for len(seen) < writers*each {
		resp, err := e.svc.Sync(ctx, bob, rooms.SyncRequest{Since: since, Filter: filter, Timeout: 5e9})
		if err != nil {
			t.Fatal(err)
		}
		since = resp.NextBatch
		if jr, ok := resp.Rooms.Join[roomID]; ok {
			if jr.Timeline.Limited {
				t.Fatal("limited timeline with limit 1000")
			}
			for _, raw := range jr.Timeline.Events {
				var ev struct {
					EventID string `json:"event_id"`
				}
				json.Unmarshal(raw, &ev)
				seen[ev.EventID]++
			}
		}
		if t.Failed() {
			break
		}
	}
	wg.Wait()
	close(sent)
	for id := range sent {
		if seen[id] != 1 {
			t.Errorf("event %s seen %d times", id, seen[id])
		}
	}
}

// anyone accepts every local user (for rooms with many members).
type anyone struct{}

func (anyone) Profile(context.Context, string) (string, string, error) { return "", "", nil }

// TestStateStorageLinear joins many members and sends messages between
// joins: stored state entries stay linear in the number of state events,
// and the state at an old event is still exact.
func TestStateStorageLinear(t *testing.T) {
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(nil)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.NewRoomsStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := rooms.New(ctx, rooms.DefaultConfig(), rooms.Identity{ServerName: "test", KeyID: "ed25519:k", Key: key},
		store, store, store, anyone{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	owner := dev("@owner:test")
	roomID, err := svc.CreateRoom(ctx, owner, rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	const members = 400
	var mid string
	for i := range members {
		u := dev(fmt.Sprintf("@user%03d:test", i))
		if _, err := svc.Join(ctx, u, roomID, ""); err != nil {
			t.Fatal(err)
		}
		id, err := svc.Send(ctx, u, roomID, "m.room.message", "m", msg("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if i == members/2 {
			mid = id
		}
	}
	var entries, stateEvents int
	db.QueryRow(`SELECT COUNT(*) FROM state_entries`).Scan(&entries)
	db.QueryRow(`SELECT COUNT(*) FROM events WHERE is_state=1`).Scan(&stateEvents)
	if entries > 6*stateEvents {
		t.Errorf("%d state entries for %d state events: not linear", entries, stateEvents)
	}
	st, err := svc.StateAt(ctx, mid)
	if err != nil {
		t.Fatal(err)
	}
	joined := 0
	for _, e := range st {
		if e.Type == "m.room.member" {
			joined++
		}
	}
	if want := 1 + members/2 + 1; joined != want {
		t.Errorf("state at the middle message has %d members, want %d", joined, want)
	}
}
