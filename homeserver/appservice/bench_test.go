package appservice_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"scop/homeserver/accounts"
	"scop/homeserver/appservice"
)

// BenchmarkDelivery measures delivery alone: b.N messages are committed
// in a room with the bridge's ghost while the sender is stopped, then a
// new sender pushes them as transactions to a mautrix application
// service on loopback until the last one arrives.
func BenchmarkDelivery(b *testing.B) {
	br := newBridge(b)
	e := newEnv(b, br.registration(b))
	e.start()
	room := bridgedRoom(b, e, br)
	e.as.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < b.N; i += 8 {
				e.send("@alice:test", room, fmt.Sprint("b", i))
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	e.as = appservice.New([]accounts.AppService{e.reg}, e.opts)
	if err := e.as.Start(context.Background(), e.rooms, e.asDB); err != nil {
		b.Fatal(err)
	}
	for n := 0; n < b.N; {
		if ev := br.next(b); ev.Type.Type == "m.room.message" {
			n++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
