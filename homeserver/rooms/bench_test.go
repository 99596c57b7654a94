package rooms_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process CPU time per operation since start, the
// figure that matters on a shared machine (wall time per operation
// depends on what else runs).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(max(b.N, 1)), "cpu-µs/op")
}

// BenchmarkSend is one client sending durable messages one after another.
func BenchmarkSend(b *testing.B) {
	e, roomID := benchRoom(b)
	defer reportCPU(b, processCPU())
	d := dev("@alice:test")
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg(fmt.Sprint("bench ", i))); err != nil {
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
	defer reportCPU(b, processCPU())
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		d := dev("@alice:test")
		d.DeviceID = fmt.Sprint("P", n.Add(1))
		i := 0
		for pb.Next() {
			i++
			if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg(fmt.Sprint("bench ", i))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSend4 is mxbench's send workload without HTTP: four clients,
// each sending its next message when the previous one is durable.
func BenchmarkSend4(b *testing.B) {
	cfg := rooms.DefaultConfig()
	var commits, writes atomic.Int64
	cfg.OnCommit = func(n int) { commits.Add(1); writes.Add(int64(n)) }
	e := newEnv(b, cfg)
	roomID, err := e.svc.CreateRoom(context.Background(), dev("@alice:test"), rooms.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := processCPU()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := dev("@alice:test")
			d.DeviceID = fmt.Sprint("C", c)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := e.svc.Send(ctx, d, roomID, "m.room.message", fmt.Sprint(i), msg(fmt.Sprint("bench ", i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportCPU(b, start)
	b.ReportMetric(float64(writes.Load())/float64(max(commits.Load(), 1)), "writes/commit")
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
