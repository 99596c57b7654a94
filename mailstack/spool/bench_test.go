package spool

import (
	"bytes"
	"testing"
)

// BenchmarkEnqueue measures durable enqueues (file fsync, rename, shared
// directory fsync) from 8 concurrent writers.
func BenchmarkEnqueue(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 4500)
	b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 writers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Enqueue(&Envelope{From: "a@b.test", To: []string{"c@d.test"}}, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
