package rooms_test

import (
	"context"
	"fmt"
	"testing"

	"scop/homeserver/rooms"
)

// commonRoom creates a public room of alice's with n messages and bob
// joined before them: the common case, where history_visibility and
// membership never change after the start.
func commonRoom(b *testing.B, svc *rooms.Service, n int) string {
	b.Helper()
	ctx := context.Background()
	alice, bob := dev("@alice:test"), dev("@bob:test")
	id, err := svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Join(ctx, bob, id, ""); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := svc.Send(ctx, alice, id, "m.room.message", fmt.Sprint("t", i), msg("hello")); err != nil {
			b.Fatal(err)
		}
	}
	return id
}

// BenchmarkMessagesCommon pages back 20 events through a room without
// visibility changes: from the live end (in-memory events) and from an
// old position (database reads).
func BenchmarkMessagesCommon(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, rooms.DefaultConfig())
	id := commonRoom(b, e.svc, 500)
	bob := dev("@bob:test")
	first, err := e.svc.Messages(ctx, bob, id, rooms.MessagesRequest{Dir: "b", Limit: 400})
	if err != nil || first.End == "" {
		b.Fatalf("first page: %v", err)
	}
	for _, c := range []struct{ name, from string }{{"live", ""}, {"old", first.End}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := e.svc.Messages(ctx, bob, id, rooms.MessagesRequest{Dir: "b", Limit: 20, From: c.from})
				if err != nil || len(resp.Chunk) != 20 {
					b.Fatalf("%v, %d events", err, len(resp.Chunk))
				}
			}
		})
	}
}

// BenchmarkFirstSyncAfterRestart is a member's first sync after a
// restart in a room of 3000 events: what a cold room costs.
func BenchmarkFirstSyncAfterRestart(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, rooms.DefaultConfig())
	commonRoom(b, e.svc, 3000)
	bob := dev("@bob:test")
	for b.Loop() {
		b.StopTimer()
		e.restart(b)
		b.StartTimer()
		resp, err := e.svc.Sync(ctx, bob, rooms.SyncRequest{})
		if err != nil || len(resp.Rooms.Join) != 1 {
			b.Fatalf("%v", err)
		}
	}
}

// BenchmarkSearchFirstPage is the first page of a /search in a
// 3000-event room, for a term in every message ("common": what one page
// holds) and for a term in none ("rare": a scan of the whole history).
func BenchmarkSearchFirstPage(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, rooms.DefaultConfig())
	commonRoom(b, e.svc, 3000)
	bob := dev("@bob:test")
	for _, c := range []struct {
		name, term string
		results    int
	}{{"common", "hello", 10}, {"rare", "absent", 0}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := e.svc.SearchRoomEvents(ctx, bob, rooms.SearchRequest{SearchTerm: c.term})
				if err != nil || len(resp.Results) != c.results {
					b.Fatalf("%v", err)
				}
			}
		})
	}
}
