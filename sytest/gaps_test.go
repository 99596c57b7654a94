package sytest

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestSync_Gaps checks the contract clients rely on to never lose events:
// an incremental sync either holds every new event, or says limited and
// gives a prev_batch from which /messages returns the rest.
func TestSync_Gaps(t *testing.T) {
	t.Parallel()
	run(t, "LimitedSyncsBackfillWithoutLoss", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		const n = 40
		sent := make(chan string, n)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/4; i++ {
					r := a.Do("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
						map[string]any{"msgtype": "m.text", "body": fmt.Sprint("g", w, "-", i)})
					if r.Status != 200 {
						c.Errorf("send: %s", r)
						return
					}
					sent <- str(r.JSON, "event_id")
				}
			}()
		}
		seen := map[string]int{} // timeline deliveries
		have := map[string]bool{}
		filter := `{"room":{"timeline":{"limit":3,"types":["m.room.message"]}}}`
		deadline := time.Now().Add(40 * time.Second)
		for len(have) < n && time.Now().Before(deadline) {
			s := b.sync(url.Values{"since": {since}, "timeout": {"500"}, "filter": {filter}}.Encode())
			tl := s.Rooms.Join[room].Timeline
			for _, e := range tl.Events {
				seen[e.EventID]++
				have[e.EventID] = true
			}
			if tl.Limited {
				// Fill the gap the way clients do: page back until known.
				from := tl.PrevBatch
				if from == "" {
					c.Fatalf("limited timeline without prev_batch")
				}
			page:
				for from != "" {
					chunk, j := b.messages(room, url.Values{"dir": {"b"}, "limit": {"10"}, "from": {from},
						"filter": {`{"types":["m.room.message"]}`}})
					if len(chunk) == 0 {
						break
					}
					for _, e := range chunk {
						if have[e.EventID] {
							break page
						}
						have[e.EventID] = true
					}
					from = str(j, "end")
				}
			}
			since = s.NextBatch
		}
		wg.Wait()
		close(sent)
		for id := range sent {
			if !have[id] {
				c.Errorf("event %s lost: neither in a timeline nor behind a limited timeline's prev_batch", id)
			}
			if seen[id] > 1 {
				c.Errorf("event %s delivered %d times in timelines", id, seen[id])
			}
		}
	})
}
