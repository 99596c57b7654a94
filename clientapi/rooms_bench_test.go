package clientapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkHTTPSend drives PUT /send through the whole HTTP stack (auth,
// routing, JSON, the rooms service, durable commit) from 4 clients.
func BenchmarkHTTPSend(b *testing.B) {
	rs := newRoomsServerTB(b)
	alice := rs.AddUser(b, "alice", "pw-alice-123")
	var out obj
	if st := rs.Do(b, "POST", "/_matrix/client/v3/createRoom", alice.Token, map[string]any{"preset": "public_chat"}, &out); st != 200 {
		b.Fatal(st)
	}
	roomID := out.str("room_id")
	var n atomic.Int64
	body := []byte(`{"msgtype":"m.text","body":"benchmark message"}`)
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &http.Client{}
		for pb.Next() {
			i := n.Add(1)
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/b%d", rs.URL, esc(roomID), i), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+alice.Token)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.StatusCode)
			}
		}
	})
}
