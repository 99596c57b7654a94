package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"scop/homeserver"
	"scop/homeserver/storage"
	"scop/homeserver/storage/sqlite"
)

// flakyRooms fails the visibility index's database reads after the first
// one while fail is set, as a cancelled request's context does.
type flakyRooms struct {
	storage.RoomsDB
	fail atomic.Bool
}

func (f *flakyRooms) RoomEvents(ctx context.Context, roomNID, from, to int64, limit int, backwards bool) ([]storage.Event, error) {
	if f.fail.Load() && limit == visIndexBatch && from > 0 {
		return nil, errors.New("context canceled")
	}
	return f.RoomsDB.RoomEvents(ctx, roomNID, from, to, limit, backwards)
}

// RoomStateChanges fails like RoomEvents: the index reads a cold room's
// history through it.
func (f *flakyRooms) RoomStateChanges(ctx context.Context, roomNID int64, typeNIDs []int64, after, upTo int64, limit int) ([]storage.StateChange, error) {
	if f.fail.Load() && limit == visIndexBatch && after > 0 {
		return nil, errors.New("context canceled")
	}
	return f.RoomsDB.RoomStateChanges(ctx, roomNID, typeNIDs, after, upTo, limit)
}

// openTestStore opens a rooms store in a fresh SQLite file, closed with
// the test.
func openTestStore(t *testing.T) *sqlite.RoomsStore {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hs.db"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.NewRoomsStore(context.Background(), db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		db.Close()
	})
	return store
}

type testProfiles struct{}

func (testProfiles) Profile(_ context.Context, userID string) (string, string, error) {
	return "", "", nil
}

// TestVisIndexResumesAfterFailedScan: a scan of a room's history that
// fails half way (a cancelled long poll) leaves the index consistent: the
// retry continues where it stopped, so no change is recorded twice.
func TestVisIndexResumesAfterFailedScan(t *testing.T) {
	defer func(b int) { visIndexBatch = b }(visIndexBatch)
	visIndexBatch = 5
	ctx := context.Background()
	store := openTestStore(t)
	_, key, _ := ed25519.GenerateKey(nil)
	cfg := DefaultConfig()
	cfg.RecentEvents = 4 // the index of a reloaded room comes from the database
	start := func(rdb storage.RoomsDB) *Service {
		svc, err := New(ctx, cfg, Identity{ServerName: "test", KeyID: "ed25519:k", Key: key}, rdb, store, store,
			testProfiles{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	alice, bob := homeserver.Device{UserID: "@alice:test", DeviceID: "A"}, homeserver.Device{UserID: "@bob:test", DeviceID: "B"}
	svc := start(store)
	roomID, err := svc.CreateRoom(ctx, alice, CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if i%10 == 0 { // membership changes spread over several batches
			if _, err := svc.Join(ctx, bob, roomID, ""); err != nil {
				t.Fatal(err)
			}
			if err := svc.Leave(ctx, bob, roomID, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Send(ctx, alice, roomID, "m.room.message", fmt.Sprint("t", i), json.RawMessage(`{"msgtype":"m.text","body":"hi"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Join(ctx, bob, roomID, ""); err != nil {
		t.Fatal(err)
	}
	svc.Close()

	flaky := &flakyRooms{RoomsDB: store}
	svc = start(flaky)
	defer svc.Close()
	flaky.fail.Store(true)
	if _, err := svc.Messages(ctx, bob, roomID, MessagesRequest{Dir: "b", Limit: 5}); err == nil {
		t.Fatal("the failing scan went unnoticed")
	}
	flaky.fail.Store(false)
	if _, err := svc.Messages(ctx, bob, roomID, MessagesRequest{Dir: "b", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	r, err := svc.room(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := svc.visIndexOf(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, cs []change) {
		for i := 1; i < len(cs); i++ {
			if cs[i].pos <= cs[i-1].pos {
				t.Fatalf("%s changes out of order or repeated after the failed scan: %v", what, cs)
			}
		}
	}
	check("history_visibility", ix.hv)
	for user, cs := range ix.members {
		check(user, cs)
	}
	if n := len(ix.members[bob.UserID]); n != 7 {
		t.Fatalf("bob has %d membership changes indexed, want 7: %v", n, ix.members[bob.UserID])
	}
}
