package rooms_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"scop/homeserver/rooms"
)

func benchRoom(b *testing.B) (*env, string) {
	e := newEnv(b, rooms.DefaultConfig())
	roomID, err := e.svc.CreateRoom(context.Background(), dev("@alice:test"), rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	return e, roomID
}

// BenchmarkSend is one client sending durable messages one after another.
func BenchmarkSend(b *testing.B) {
	e, roomID := benchRoom(b)
	d := dev("@alice:test")
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg("bench")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendParallel is many clients sending into one room: the group
// committer shares each fsync among the writers.
func BenchmarkSendParallel(b *testing.B) {
	cfg := rooms.DefaultConfig()
	var commits, writes atomic.Int64
	cfg.OnCommit = func(n int) { commits.Add(1); writes.Add(int64(n)) }
	e := newEnv(b, cfg)
	roomID, err := e.svc.CreateRoom(context.Background(), dev("@alice:test"), rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { b.ReportMetric(float64(writes.Load())/float64(max(commits.Load(), 1)), "writes/commit") }()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		d := dev("@alice:test")
		d.DeviceID = fmt.Sprint("P", n.Add(1))
		i := 0
		for pb.Next() {
			i++
			if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg("bench")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateRoom creates public rooms with a name, as mxbench does.
func BenchmarkCreateRoom(b *testing.B) {
	e := newEnv(b, rooms.DefaultConfig())
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := e.svc.CreateRoom(ctx, dev("@alice:test"), rooms.CreateRoomRequest{Preset: "public_chat", Name: fmt.Sprint("room ", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInitialSync50Rooms is an unfiltered initial sync of a user in
// 50 rooms with a few messages each.
func BenchmarkInitialSync50Rooms(b *testing.B) {
	e := newEnv(b, rooms.DefaultConfig())
	ctx := context.Background()
	d := dev("@alice:test")
	for i := range 50 {
		id, err := e.svc.CreateRoom(ctx, d, rooms.CreateRoomRequest{Preset: "public_chat", Name: fmt.Sprint("room ", i)})
		if err != nil {
			b.Fatal(err)
		}
		for j := range 3 {
			if _, err := e.svc.Send(ctx, d, id, "m.room.message", fmt.Sprint(i, "-", j), msg("hello")); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		resp, err := e.svc.Sync(ctx, d, rooms.SyncRequest{})
		if err != nil || len(resp.Rooms.Join) != 50 {
			b.Fatalf("%d rooms, %v", len(resp.Rooms.Join), err)
		}
	}
}

// BenchmarkSyncWake is the time from a send to the answer of a long poll
// parked before it.
func BenchmarkSyncWake(b *testing.B) {
	e, roomID := benchRoom(b)
	ctx := context.Background()
	alice := dev("@alice:test")
	first, err := e.svc.Sync(ctx, alice, rooms.SyncRequest{})
	if err != nil {
		b.Fatal(err)
	}
	since := first.NextBatch
	for i := 0; b.Loop(); i++ {
		got := make(chan string, 1)
		go func() {
			resp, err := e.svc.Sync(ctx, alice, rooms.SyncRequest{Since: since, Timeout: 10 * time.Second})
			if err != nil {
				b.Error(err)
			}
			got <- resp.NextBatch
		}()
		if _, err := e.svc.Send(ctx, alice, roomID, "m.room.message", fmt.Sprint("w", i), msg("wake")); err != nil {
			b.Fatal(err)
		}
		since = <-got
	}
}
