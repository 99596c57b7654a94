package sytest

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Server throughput and latency, measured through the public API:
//
//	go test ./sytest/ -run '^$' -bench . -benchtime 200x

// bench runs fn with a suite *T bound to b; failures end the benchmark.
func bench(b *testing.B, fn func(c *T)) {
	c := &T{tt: b}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(c)
	}()
	<-done
	if c.Failed() {
		c.mu.Lock()
		defer c.mu.Unlock()
		b.Fatal(strings.Join(c.errs, "\n"))
	}
}

func BenchmarkSend(b *testing.B) {
	bench(b, func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			u.send(room, "bench")
		}
	})
}

func BenchmarkSendParallel8(b *testing.B) {
	bench(b, func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		b.ResetTimer()
		var wg sync.WaitGroup
		per := (b.N + 7) / 8
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					r := u.Do("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text", "body": "p"})
					if r.Status != 200 {
						c.Errorf("send: %s", r)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// BenchmarkSendToSync is the latency from a send to the event arriving in
// another user's incremental sync.
func BenchmarkSendToSync(b *testing.B) {
	bench(b, func(c *T) {
		a, o := c.user(), c.user()
		room := a.publicRoom()
		o.join(room)
		since := o.sync("").NextBatch
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			id := a.send(room, "latency")
			since = o.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) }).NextBatch
		}
	})
}

// BenchmarkInitialSync20Rooms is an initial sync of a user in 20 rooms of
// 10 messages each.
func BenchmarkInitialSync20Rooms(b *testing.B) {
	bench(b, func(c *T) {
		u := c.user()
		for r := 0; r < 20; r++ {
			room := u.createRoom(map[string]any{"name": fmt.Sprint("bench ", r)})
			for i := 0; i < 10; i++ {
				u.send(room, "m")
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if s := u.sync(""); len(s.Rooms.Join) != 20 {
				c.Fatalf("%d rooms in sync", len(s.Rooms.Join))
			}
		}
	})
}

func BenchmarkMessagesPage50(b *testing.B) {
	bench(b, func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for i := 0; i < 100; i++ {
			u.send(room, "m")
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			u.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		}
	})
}

func BenchmarkLogin(b *testing.B) {
	bench(b, func(c *T) {
		u := c.user()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			u.login()
		}
	})
}
