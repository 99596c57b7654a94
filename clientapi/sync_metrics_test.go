package clientapi_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestParkedSyncGauge checks that a long-polling /sync shows in the
// parked gauge while it waits and leaves it when a send wakes it.
func TestParkedSyncGauge(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{})
	since := rs.sync(t, alice, "").NextBatch
	gauge := rs.API.Metrics().ParkedSyncs

	done := make(chan syncResp, 1)
	go func() { done <- rs.sync(t, alice, "timeout=30000&since="+since) }()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(gauge) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("parked gauge = %v, want 1", testutil.ToFloat64(gauge))
		}
		time.Sleep(5 * time.Millisecond)
	}
	rs.send(t, alice, roomID, "wake up")
	<-done
	if g := testutil.ToFloat64(gauge); g != 0 {
		t.Errorf("parked gauge after wake = %v, want 0", g)
	}
}
