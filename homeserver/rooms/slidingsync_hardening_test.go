package rooms

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"scop/homeserver"
)

// fatConfig is a subscription config with n required_state entries of
// keyLen-byte state keys (keyLen >= 3).
func fatConfig(n, keyLen int) SlidingRoomConfig {
	var c SlidingRoomConfig
	for i := range n {
		c.RequiredState.Include = append(c.RequiredState.Include, []string{"m.room.x", fmt.Sprintf("%03d", i) + strings.Repeat("k", keyLen-3)})
	}
	return c
}

// TestSlidingSubsBounded: subscriptions stay on a connection from one
// request to the next, so a client subscribing one room with a large
// required_state per request must not make the snapshot grow without
// bound; what a request subscribes is kept, and so are small ones.
func TestSlidingSubsBounded(t *testing.T) {
	tests := []struct {
		name     string
		perReq   int // required_state entries of each request's subscription
		keyLen   int
		requests int
		wantAll  bool // every subscription fits
	}{
		{"Element X sized", 12, 20, maxSlidingSubscriptions, true},
		{"fat, one per request", maxSlidingRequiredState, 255, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subs := map[string]SlidingRoomConfig{}
			for i := range tc.requests {
				id := fmt.Sprintf("!r%d:test", i)
				req := &SlidingRequest{RoomSubscriptions: map[string]SlidingRoomConfig{id: fatConfig(tc.perReq, tc.keyLen)}}
				next := maps.Clone(subs) // as buildSliding copies the previous snapshot's
				mergeSubs(next, req)
				if _, ok := next[id]; !ok {
					t.Fatalf("request %d: its own subscription dropped", i)
				}
				subs = next
			}
			size := 0
			for _, c := range subs {
				size += c.RequiredState.bytes()
			}
			if size > maxSlidingSubStateBytes || len(subs) > maxSlidingSubscriptions {
				t.Fatalf("%d subscriptions of %d bytes kept (bounds %d, %d)", len(subs), size, maxSlidingSubscriptions, maxSlidingSubStateBytes)
			}
			if tc.wantAll && len(subs) != tc.requests {
				t.Fatalf("%d of %d small subscriptions kept", len(subs), tc.requests)
			}
		})
	}
}

// TestParseSlidingRequestSubsTooLarge: one request's subscriptions are
// bounded in bytes too (M_INVALID_PARAM, not stored).
func TestParseSlidingRequestSubsTooLarge(t *testing.T) {
	subs := map[string]SlidingRoomConfig{}
	for i := range 8 {
		subs[fmt.Sprintf("!r%d:test", i)] = fatConfig(maxSlidingRequiredState, 255)
	}
	body, _ := json.Marshal(map[string]any{"room_subscriptions": subs})
	_, err := ParseSlidingRequest(body)
	var he *homeserver.Error
	if !errors.As(err, &he) || he.Code != homeserver.ErrInvalidParam {
		t.Fatalf("%d bytes of subscriptions: %v", len(body), err)
	}
}
