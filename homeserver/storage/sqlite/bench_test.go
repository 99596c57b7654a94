package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"scop/homeserver/storage"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteMessages writes what the group committer writes for n
// concurrent senders in one room: n message events of realistic size and
// the room head once per sender.
func BenchmarkWriteMessages(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchWriteMessages(b, n) })
	}
}

func benchWriteMessages(b *testing.B, n int) {
	db, err := Open(filepath.Join(b.TempDir(), "rooms.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := NewRoomsStore(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	id := func(n int64) string {
		h := sha256.Sum256([]byte(fmt.Sprint(n)))
		return "$" + base64.RawURLEncoding.EncodeToString(h[:])
	}
	pad := strings.Repeat("x", 700)
	var nid, pos int64
	start := processCPU()
	b.ResetTimer()
	for b.Loop() {
		bt := &storage.Batch{}
		for range n {
			nid++
			pos++
			bt.Events = append(bt.Events, storage.Event{NID: nid, EventID: id(nid), RoomNID: 1, Pos: pos, TypeNID: 1,
				Sender: "@bench1:localhost", TxnDevice: "DEV", TxnID: fmt.Sprint(nid),
				PDU: []byte(`{"pdu":"` + pad + `"}`), Client: []byte(`{"client":"` + pad[:300] + `"}`), Unsigned: []byte(`{}`)})
			bt.Rooms = append(bt.Rooms, storage.Room{NID: 1, RoomID: "!r:localhost", Version: "11", Snapshot: 5,
				LatestEvents: []string{id(nid)}, Depth: nid, LastPos: pos})
		}
		if err := s.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
