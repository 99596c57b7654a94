package sytest

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDurability runs its own scop (only when the suite built one), kills
// it with SIGKILL and restarts it on the same data: whatever was answered
// 200 must still be there.
func TestDurability(t *testing.T) {
	t.Parallel()
	// private starts a dedicated scop for c and points c's clients at it.
	private := func(c *T) (*server, func()) {
		if scopBin == "" {
			c.Skipf("needs the suite to build scop (not applicable with SYTEST_URL)")
		}
		data := filepath.Join(c.TempDir(), "data")
		s, err := launch(scopBin, data)
		if err != nil {
			c.Fatalf("launch private scop: %v\n%s", err, s.log)
		}
		cur := s
		c.Cleanup(func() { _ = cur.stop() })
		c.setBase(s.url)
		restart := func() {
			cur.kill()
			n, err := launch(scopBin, data)
			if err != nil {
				c.Fatalf("restart after SIGKILL: %v\n%s", err, n.log)
			}
			cur = n
			c.setBase(n.url)
		}
		return s, restart
	}
	run(t, "AcknowledgedWritesSurviveKill", func(c *T) {
		_, restart := private(c)
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "name": "durable"})
		b.join(room)
		var ids []string
		for i := 0; i < 10; i++ {
			ids = append(ids, a.send(room, fmt.Sprint("d", i)))
		}
		a.Must("PUT", cs("/user/%s/account_data/org.scop.durable", a.UserID), map[string]any{"v": 1})
		a.Must("PUT", cs("/profile/%s/displayname", a.UserID), map[string]any{"displayname": "Durable"})
		since := b.sync("").NextBatch
		restart()
		a.Must("GET", cs("/account/whoami"), nil) // the token survived
		chunk, _ := a.messages(room, url.Values{"dir": {"b"}, "limit": {"20"}})
		got := bodies(chunk)
		if !eq(got, "d9", "d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1", "d0") {
			c.Errorf("messages after restart: %v", got)
		}
		if j := a.Must("GET", cs("/user/%s/account_data/org.scop.durable", a.UserID), nil); j["v"] != float64(1) {
			c.Errorf("account data after restart: %v", j)
		}
		if dn := a.Must("GET", cs("/profile/%s/displayname", a.UserID), nil)["displayname"]; dn != "Durable" {
			c.Errorf("displayname after restart: %v", dn)
		}
		if !contains(b.joinedRooms(), room) {
			c.Errorf("membership lost in restart")
		}
		// A sync token from before the crash still works and moves on.
		id := a.send(room, "after restart")
		b.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		c.user().login() // new registrations and logins still work
	})
	run(t, "KillDuringConcurrentSends", func(c *T) {
		_, restart := private(c)
		a := c.user()
		room := a.createRoom(nil)
		var (
			mu    sync.Mutex
			acked []string
			n     atomic.Int64
			wg    sync.WaitGroup
		)
		stop := make(chan struct{})
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r, err := a.try("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
						map[string]any{"msgtype": "m.text", "body": fmt.Sprint("w", w, "-", i)}, nil)
					if err != nil {
						return // the server is gone
					}
					if r.Status == 200 {
						mu.Lock()
						acked = append(acked, str(r.JSON, "event_id"))
						mu.Unlock()
						n.Add(1)
					}
				}
			}()
		}
		// Poll (briefly) until enough sends were acknowledged.
		for n.Load() < 40 {
			select {
			case <-c.Context().Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		restart() // SIGKILL while sends are in flight
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range acked {
			r := a.Do("GET", cs("/rooms/%s/event/%s", room, id), nil)
			if r.Status != 200 {
				c.Errorf("event %s was acknowledged 200 before the kill but is gone: %s", id, r)
			}
		}
		c.Logf("%d sends acknowledged before SIGKILL, all checked", len(acked))
	})
}
