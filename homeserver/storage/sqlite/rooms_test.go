package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"scop/homeserver/storage"
)

func newRoomsStore(t *testing.T) *RoomsStore {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "rooms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := NewRoomsStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Migrating twice is a no-op.
	if _, err := NewRoomsStore(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return s
}

func ev(nid, pos, snap int64, typ, key int64) storage.Event {
	return storage.Event{NID: nid, EventID: "$e" + string(rune('a'+nid)), RoomNID: 1, Pos: pos, TypeNID: typ, StateKeyNID: key,
		IsState: key != 0, Sender: "@a:t", StateBefore: snap, PDU: []byte(`{"room_id":"!r:t"}`), Client: []byte(`{}`), Unsigned: []byte(`{}`)}
}

func TestRoomsStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newRoomsStore(t)
	b := &storage.Batch{
		Types:     []storage.Name{{NID: 1, Name: "m.room.create"}, {NID: 2, Name: "m.room.member"}},
		StateKeys: []storage.Name{{NID: 1, Name: ""}, {NID: 2, Name: "@a:t"}},
		Rooms:     []storage.Room{{NID: 1, RoomID: "!r:t", Version: "11", Snapshot: 2, LatestEvents: []string{"$eb"}, Depth: 2, LastPos: 2}},
		Events:    []storage.Event{ev(1, 1, 0, 1, 1), ev(2, 2, 1, 2, 2)},
		Snapshots: []storage.Snapshot{
			{NID: 1, RoomNID: 1, Entries: []storage.StateEntry{{TypeNID: 1, StateKeyNID: 1, EventNID: 1}}},
			{NID: 2, RoomNID: 1, Parent: 1, Entries: []storage.StateEntry{{TypeNID: 2, StateKeyNID: 2, EventNID: 2}}},
		},
		Memberships: []storage.Membership{{UserID: "@a:t", RoomNID: 1, Membership: "join", EventNID: 2, Pos: 2}},
		AccountData: []storage.AccountData{{UserID: "@a:t", Type: "m.direct", Content: []byte(`{}`), Pos: 3}},
		Receipts:    []storage.Receipt{{RoomNID: 1, UserID: "@a:t", Type: "m.read", EventID: "$eb", TS: 5, Pos: 4}},
		Aliases:     []storage.Alias{{Alias: "#a:t", RoomID: "!r:t", Creator: "@a:t"}},
	}
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	n, err := s.MaxNIDs(ctx)
	if err != nil || n.Event != 2 || n.Snapshot != 2 || n.StreamPos != 4 || n.Type != 2 || n.Room != 1 {
		t.Errorf("max nids %+v %v", n, err)
	}
	st, err := s.ResolveSnapshot(ctx, 2)
	if err != nil || len(st) != 2 {
		t.Fatalf("resolved %v %v", st, err)
	}
	// A later delta replaces an entry of its parent.
	if err := s.Write(ctx, &storage.Batch{Events: []storage.Event{ev(3, 5, 2, 2, 2)},
		Snapshots: []storage.Snapshot{{NID: 3, RoomNID: 1, Parent: 2, Entries: []storage.StateEntry{{TypeNID: 2, StateKeyNID: 2, EventNID: 3}}}}}); err != nil {
		t.Fatal(err)
	}
	st, _ = s.ResolveSnapshot(ctx, 3)
	for _, e := range st {
		if e.TypeNID == 2 && e.EventNID != 3 {
			t.Errorf("member entry %+v, want event 3", e)
		}
	}
	r, err := s.RoomByID(ctx, "!r:t")
	if err != nil || r.Version != "11" || len(r.LatestEvents) != 1 {
		t.Errorf("room %+v %v", r, err)
	}
	if _, err := s.RoomByID(ctx, "!nope:t"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown room: %v", err)
	}
	evs, err := s.RoomEvents(ctx, 1, 0, 10, 2, true)
	if err != nil || len(evs) != 2 || evs[0].Pos != 5 {
		t.Errorf("room events %v %v", evs, err)
	}
	if _, err := s.EventByID(ctx, "$nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
	ms, _ := s.Memberships(ctx)
	if len(ms) != 1 || ms[0].RoomID != "!r:t" {
		t.Errorf("memberships %+v", ms)
	}
	if rc, _ := s.Receipts(ctx, 1); len(rc) != 1 || rc[0].EventID != "$eb" {
		t.Errorf("receipts %+v", rc)
	}
	if err := s.CreateAlias(ctx, "#a:t", "!r:t", "@b:t"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate alias: %v", err)
	}
	if err := s.DeleteAlias(ctx, "#zz:t"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("delete unknown alias: %v", err)
	}
	id, err := s.CreateFilter(ctx, "@a:t", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Filter(ctx, "@b:t", id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another user's filter: %v", err)
	}
	if _, err := s.Filter(ctx, "@a:t", "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("malformed filter ID: %v", err)
	}
	// A failing batch writes nothing (duplicate event ID).
	if err := s.Write(ctx, &storage.Batch{Events: []storage.Event{ev(9, 9, 0, 1, 0), ev(1, 10, 0, 1, 0)}}); err == nil {
		t.Fatal("duplicate event accepted")
	}
	if n, _ := s.MaxNIDs(ctx); n.Event != 3 {
		t.Errorf("a failed batch left event %d", n.Event)
	}
	// And the writer recovers for the next batch.
	if err := s.Write(ctx, &storage.Batch{AccountData: []storage.AccountData{{UserID: "@a:t", Type: "x", Content: []byte(`{}`), Pos: 11}}}); err != nil {
		t.Fatal(err)
	}
}
