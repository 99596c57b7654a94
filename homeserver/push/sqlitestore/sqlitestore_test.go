package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"scop/homeserver/push"
	"scop/homeserver/push/sqlitestore"
	"scop/homeserver/storage/sqlite"
)

// TestStoreSurvivesReopen: pushers and the position are on disk, the
// append rule applies, and migrating twice is harmless.
func TestStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hs.db")
	open := func() *sqlitestore.Store {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	p := push.Pusher{UserID: "@a:x", AppID: "app", PushKey: "k", Kind: "http", AppDisplayName: "A", DeviceDisplayName: "D",
		Lang: "en", Data: []byte(`{"url":"https://gw/_matrix/push/v1/notify"}`), PushKeyTS: 1234}
	if err := s.SetPusher(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	q := p
	q.UserID = "@b:x"
	if err := s.SetPusher(ctx, q, true); err != nil { // appended: both stay
		t.Fatal(err)
	}
	if _, ok, err := s.Position(ctx); err != nil || ok {
		t.Fatalf("position before any: %v %v", ok, err)
	}
	if err := s.SetPosition(ctx, 42); err != nil {
		t.Fatal(err)
	}

	s = open()
	all, err := s.Pushers(ctx)
	if err != nil || len(all) != 2 || all[0].UserID != "@a:x" || string(all[0].Data) != string(p.Data) || all[0].PushKeyTS != 1234 {
		t.Fatalf("pushers after reopen: %+v %v", all, err)
	}
	if pos, ok, err := s.Position(ctx); err != nil || !ok || pos != 42 {
		t.Fatalf("position after reopen: %d %v %v", pos, ok, err)
	}
	q.UserID = "@c:x"
	if err := s.SetPusher(ctx, q, false); err != nil { // not appended: takes the key
		t.Fatal(err)
	}
	if all, _ := s.Pushers(ctx); len(all) != 1 || all[0].UserID != "@c:x" {
		t.Fatalf("pushers after a takeover: %+v", all)
	}
	if err := s.DeletePusher(ctx, "@c:x", "app", "k"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Pushers(ctx); len(all) != 0 {
		t.Fatalf("pushers after delete: %+v", all)
	}
}
