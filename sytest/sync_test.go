package sytest

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"
)

func TestSync(t *testing.T) {
	t.Parallel()
	run(t, "Initial", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"name": "initial"})
		id := u.send(room, "hello")
		s := u.sync("")
		jr, ok := s.Rooms.Join[room]
		if !ok {
			c.Fatalf("room not in rooms.join")
		}
		if !jr.Timeline.Events.has(id) {
			c.Errorf("timeline lacks the message: %v", jr.Timeline.Events.ids())
		}
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		for _, typ := range []string{"m.room.create", "m.room.name", "m.room.power_levels"} {
			if all.find(typ, sp("")) == nil {
				c.Errorf("state+timeline lacks %s", typ)
			}
		}
	})
	run(t, "Incremental", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		old := u.send(room, "old")
		since := u.sync("").NextBatch
		id := u.send(room, "new")
		s := u.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		if s.Rooms.Join[room].Timeline.Events.has(old) {
			c.Errorf("incremental sync repeats an event from before since")
		}
		if len(s.Rooms.Join[room].Timeline.Events) != 1 {
			c.Errorf("timeline %v, want just the new event", s.Rooms.Join[room].Timeline.Events.ids())
		}
		// Nothing new: a short poll gives no events for the room.
		q := url.Values{"since": {s.NextBatch}, "timeout": {"100"}}
		s2 := u.sync(q.Encode())
		if n := len(s2.Rooms.Join[room].Timeline.Events); n != 0 {
			c.Errorf("empty poll gave %d events", n)
		}
	})
	run(t, "LongPollWokenBySend", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		type res struct {
			s   *Sync
			err string
		}
		ch := make(chan res, 1)
		start := time.Now()
		go func() {
			q := url.Values{"since": {since}, "timeout": {"20000"}}
			r := u.Do("GET", cs("/sync")+"?"+q.Encode(), nil)
			var s Sync
			if r.Status != 200 {
				ch <- res{err: r.String()}
				return
			}
			if err := decodeBytes(r.Body, &s); err != nil {
				ch <- res{err: err.Error()}
				return
			}
			ch <- res{s: &s}
		}()
		// Give the request time to start waiting; the test passes either way
		// if the server wakes it.
		time.Sleep(300 * time.Millisecond)
		id := u.send(room, "wake up")
		got := <-ch
		if got.err != "" {
			c.Fatalf("sync: %s", got.err)
		}
		if !got.s.Rooms.Join[room].Timeline.Events.has(id) {
			c.Errorf("long poll returned without the message after %v", time.Since(start))
		}
		if d := time.Since(start); d > 15*time.Second {
			c.Errorf("long poll took %v: not woken by the send", d)
		}
	})
	run(t, "TimeoutReturnsEmpty", func(c *T) {
		u := c.user()
		since := u.sync("").NextBatch
		s := u.sync(url.Values{"since": {since}, "timeout": {"200"}}.Encode())
		if len(s.Rooms.Join) != 0 {
			c.Errorf("idle poll returned rooms %v", s.Rooms.Join)
		}
	})
	run(t, "TimelineLimited", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		var ids []string
		for i := 1; i <= 8; i++ {
			ids = append(ids, u.send(room, fmt.Sprintf("m%d", i)))
		}
		s := u.sync(url.Values{"filter": {`{"room":{"timeline":{"limit":3}}}`}}.Encode())
		tl := s.Rooms.Join[room].Timeline
		if got := tl.Events.ids(); len(got) != 3 || got[0] != ids[5] || got[2] != ids[7] {
			c.Errorf("timeline %v, want the last 3 of %v", got, ids)
		}
		if !tl.Limited || tl.PrevBatch == "" {
			c.Fatalf("limited=%v prev_batch=%q, want true and a token", tl.Limited, tl.PrevBatch)
		}
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"2"}, "from": {tl.PrevBatch}})
		if got := bodies(chunk); !eq(got, "m5", "m4") {
			c.Errorf("/messages from prev_batch %v, want m5 m4", got)
		}
	})
	run(t, "IncrementalLimited", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		for i := 1; i <= 6; i++ {
			u.send(room, fmt.Sprintf("m%d", i))
		}
		s := u.sync(url.Values{"since": {since}, "filter": {`{"room":{"timeline":{"limit":2}}}`}}.Encode())
		tl := s.Rooms.Join[room].Timeline
		if got := bodies(tl.Events); !eq(got, "m5", "m6") || !tl.Limited {
			c.Errorf("timeline %v limited=%v, want m5 m6 limited", got, tl.Limited)
		}
	})
	run(t, "FullState", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"name": "full"})
		since := u.sync("").NextBatch
		s := u.sync(url.Values{"since": {since}, "full_state": {"true"}}.Encode())
		jr, ok := s.Rooms.Join[room]
		if !ok {
			c.Fatalf("full_state sync lacks the room")
		}
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		for _, typ := range []string{"m.room.create", "m.room.name"} {
			if all.find(typ, sp("")) == nil {
				c.Errorf("full_state lacks %s", typ)
			}
		}
	})
	run(t, "JoinedRoomAppears", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "name": "appears"})
		since := b.sync("").NextBatch
		b.join(room)
		s := b.syncUntil(since, "", func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		jr := s.Rooms.Join[room]
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		if all.find("m.room.name", sp("")) == nil || all.find("m.room.create", sp("")) == nil {
			c.Errorf("newly joined room lacks its state")
		}
		if all.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("newly joined room lacks b's join")
		}
	})
	run(t, "InviteSection", func(c *T) {
		a, b := c.user(), c.user()
		since := b.sync("").NextBatch
		room := a.createRoom(map[string]any{"preset": "private_chat", "name": "invited", "invite": []string{b.UserID}})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, ok := s.Rooms.Invite[room]; return ok })
		st := s.Rooms.Invite[room].InviteState.Events
		m := st.find("m.room.member", sp(b.UserID))
		if m == nil || m.Content["membership"] != "invite" {
			c.Errorf("invite_state lacks b's invite: %+v", st)
		}
		if st.find("m.room.name", sp("")) == nil {
			c.Errorf("invite_state lacks the room name")
		}
		// The invite is also in an initial sync.
		if _, ok := b.sync("").Rooms.Invite[room]; !ok {
			c.Errorf("initial sync lacks the invite")
		}
	})
	run(t, "LeaveSection", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": b.UserID})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, ok := s.Rooms.Leave[room]; return ok })
		lv := s.Rooms.Leave[room]
		all := append(append(Events{}, lv.State.Events...), lv.Timeline.Events...)
		if m := all.find("m.room.member", sp(b.UserID)); m == nil || m.Content["membership"] != "leave" {
			c.Errorf("rooms.leave lacks the kick event")
		}
		if _, ok := s.Rooms.Join[room]; ok {
			c.Errorf("room still in rooms.join after the kick")
		}
	})
	run(t, "LeftRoomNotInJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		a.send(room, "after b left")
		if _, ok := b.sync("").Rooms.Join[room]; ok {
			c.Errorf("left room in rooms.join of an initial sync")
		}
	})
	run(t, "NoSkipNoRepeatUnderConcurrentSends", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		const n = 30
		sent := make(chan string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			cl := a
			if i%2 == 1 {
				cl = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := cl.Do("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
					map[string]any{"msgtype": "m.text", "body": fmt.Sprint("c", i)})
				if r.Status != 200 {
					c.Errorf("concurrent send: %s", r)
					return
				}
				sent <- str(r.JSON, "event_id")
			}()
		}
		seen := map[string]int{}
		deadline := time.Now().Add(40 * time.Second)
		filter := `{"room":{"timeline":{"limit":100,"types":["m.room.message"]}}}`
		for len(seen) < n && time.Now().Before(deadline) {
			s := a.sync(url.Values{"since": {since}, "timeout": {"1000"}, "filter": {filter}}.Encode())
			tl := s.Rooms.Join[room].Timeline
			if tl.Limited {
				c.Errorf("timeline limited with limit 100 and %d events", len(tl.Events))
			}
			for _, e := range tl.Events {
				seen[e.EventID]++
			}
			since = s.NextBatch
		}
		wg.Wait()
		// One more poll: an event repeated after the last one arrived.
		s := a.sync(url.Values{"since": {since}, "timeout": {"300"}, "filter": {filter}}.Encode())
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			seen[e.EventID]++
		}
		close(sent)
		want := map[string]bool{}
		for id := range sent {
			want[id] = true
			if seen[id] != 1 {
				c.Errorf("event %s seen %d times across incremental syncs", id, seen[id])
			}
		}
		for id := range seen {
			if !want[id] {
				c.Errorf("sync gave unknown message %s", id)
			}
		}
	})
}

func TestFilters(t *testing.T) {
	t.Parallel()
	upload := func(cl *Client, f string) string {
		j := cl.Must("POST", cs("/user/%s/filter", cl.UserID), f)
		id := str(j, "filter_id")
		if id == "" {
			cl.c.Fatalf("no filter_id: %v", j)
		}
		return id
	}
	run(t, "CreateGet", func(c *T) {
		u := c.user()
		id := upload(u, `{"room":{"timeline":{"limit":7}},"presence":{"types":["m.presence"]}}`)
		j := u.Must("GET", cs("/user/%s/filter/%s", u.UserID, id), nil)
		if get(j, "room", "timeline", "limit") != float64(7) {
			c.Errorf("filter %v", j)
		}
	})
	run(t, "GetUnknown", func(c *T) {
		u := c.user()
		u.MustErr("GET", cs("/user/%s/filter/%s", u.UserID, "999999"), nil, 404, "M_NOT_FOUND")
	})
	run(t, "CreateForOtherUserForbidden", func(c *T) {
		a, b := c.user(), c.user()
		a.MustErr("POST", cs("/user/%s/filter", b.UserID), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "GetOtherUsersFilter", func(c *T) {
		a, b := c.user(), c.user()
		id := upload(b, `{}`)
		r := a.Do("GET", cs("/user/%s/filter/%s", b.UserID, id), nil)
		if r.Status != 403 && r.Status != 404 {
			c.Errorf("want 403 or 404: %s", r)
		}
	})
	run(t, "InvalidFilter", func(c *T) {
		u := c.user()
		u.MustErr("POST", cs("/user/%s/filter", u.UserID), `{"room":{"timeline":{"limit":"many"}}}`, 400, "")
	})
	run(t, "StoredFilterInSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "a")
		last := u.send(room, "b")
		id := upload(u, `{"room":{"timeline":{"limit":1}}}`)
		s := u.sync("filter=" + url.QueryEscape(id))
		if got := s.Rooms.Join[room].Timeline.Events.ids(); len(got) != 1 || got[0] != last {
			c.Errorf("timeline %v, want only %s", got, last)
		}
	})
	run(t, "InlineFilterInSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "a")
		last := u.send(room, "b")
		s := u.sync(url.Values{"filter": {`{"room":{"timeline":{"limit":1}}}`}}.Encode())
		if got := s.Rooms.Join[room].Timeline.Events.ids(); len(got) != 1 || got[0] != last {
			c.Errorf("timeline %v, want only %s", got, last)
		}
	})
	run(t, "TypesFilter", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "a")
		u.setState(room, "m.room.topic", "", map[string]any{"topic": "t"})
		s := u.sync(url.Values{"filter": {`{"room":{"timeline":{"types":["m.room.message"]}}}`}}.Encode())
		tl := s.Rooms.Join[room].Timeline.Events
		if len(tl) == 0 {
			c.Errorf("no events left by the types filter")
		}
		for _, e := range tl {
			if e.Type != "m.room.message" {
				c.Errorf("types filter let %s through", e.Type)
			}
		}
	})
	run(t, "NotTypesFilter", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "a")
		s := u.sync(url.Values{"filter": {`{"room":{"timeline":{"not_types":["m.room.message"]}}}`}}.Encode())
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			if e.Type == "m.room.message" {
				c.Errorf("not_types filter let a message through")
			}
		}
	})
	run(t, "RoomsFilter", func(c *T) {
		u := c.user()
		r1, r2 := u.createRoom(nil), u.createRoom(nil)
		s := u.sync(url.Values{"filter": {fmt.Sprintf(`{"room":{"rooms":[%q]}}`, r1)}}.Encode())
		if _, ok := s.Rooms.Join[r1]; !ok {
			c.Errorf("rooms filter dropped the listed room")
		}
		if _, ok := s.Rooms.Join[r2]; ok {
			c.Errorf("rooms filter let an unlisted room through")
		}
	})
	run(t, "UnknownFilterIDInSync", func(c *T) {
		u := c.user()
		r := u.Do("GET", cs("/sync")+"?filter=987654321", nil)
		if r.Status != 400 && r.Status != 404 {
			c.Errorf("want 400 or 404: %s", r)
		}
	})
}

func TestAccountData(t *testing.T) {
	t.Parallel()
	run(t, "GlobalPutGet", func(c *T) {
		u := c.user()
		u.Must("PUT", cs("/user/%s/account_data/org.scop.pref", u.UserID), map[string]any{"a": 1})
		j := u.Must("GET", cs("/user/%s/account_data/org.scop.pref", u.UserID), nil)
		if j["a"] != float64(1) {
			c.Errorf("got %v", j)
		}
	})
	run(t, "RoomPutGet", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.Must("PUT", cs("/user/%s/rooms/%s/account_data/org.scop.tag", u.UserID, room), map[string]any{"b": 2})
		j := u.Must("GET", cs("/user/%s/rooms/%s/account_data/org.scop.tag", u.UserID, room), nil)
		if j["b"] != float64(2) {
			c.Errorf("got %v", j)
		}
	})
	run(t, "GetMissing", func(c *T) {
		u := c.user()
		u.MustErr("GET", cs("/user/%s/account_data/org.scop.none", u.UserID), nil, 404, "M_NOT_FOUND")
	})
	run(t, "OtherUserForbidden", func(c *T) {
		a, b := c.user(), c.user()
		a.MustErr("PUT", cs("/user/%s/account_data/org.scop.x", b.UserID), map[string]any{}, 403, "M_FORBIDDEN")
		a.MustErr("GET", cs("/user/%s/account_data/org.scop.x", b.UserID), nil, 403, "M_FORBIDDEN")
	})
	run(t, "GlobalInSync", func(c *T) {
		u := c.user()
		since := u.sync("").NextBatch
		u.Must("PUT", cs("/user/%s/account_data/org.scop.s", u.UserID), map[string]any{"v": "one"})
		s := u.syncUntil(since, "", func(s *Sync) bool { return s.AccountData.Events.find("org.scop.s", nil) != nil })
		if e := s.AccountData.Events.find("org.scop.s", nil); e.Content["v"] != "one" {
			c.Errorf("content %v", e.Content)
		}
		u.Must("PUT", cs("/user/%s/account_data/org.scop.s", u.UserID), map[string]any{"v": "two"})
		s = u.syncUntil(s.NextBatch, "", func(s *Sync) bool { return s.AccountData.Events.find("org.scop.s", nil) != nil })
		if e := s.AccountData.Events.find("org.scop.s", nil); e.Content["v"] != "two" {
			c.Errorf("updated content %v", e.Content)
		}
		if e := u.sync("").AccountData.Events.find("org.scop.s", nil); e == nil || e.Content["v"] != "two" {
			c.Errorf("initial sync lacks the latest account data")
		}
	})
	run(t, "RoomInSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		u.Must("PUT", cs("/user/%s/rooms/%s/account_data/org.scop.r", u.UserID, room), map[string]any{"v": 3})
		s := u.syncUntil(since, "", func(s *Sync) bool {
			return s.Rooms.Join[room].AccountData.Events.find("org.scop.r", nil) != nil
		})
		if e := s.Rooms.Join[room].AccountData.Events.find("org.scop.r", nil); e.Content["v"] != float64(3) {
			c.Errorf("content %v", e.Content)
		}
	})
}
