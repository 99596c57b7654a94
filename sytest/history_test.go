package sytest

import (
	"net/url"
	"testing"
)

// roomVis creates a public room whose history visibility starts as vis.
func roomVis(cl *Client, vis string) string {
	return cl.createRoom(map[string]any{"preset": "public_chat", "initial_state": []any{map[string]any{
		"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": vis}}}})
}

func setVis(cl *Client, room, vis string) string {
	return cl.setState(room, "m.room.history_visibility", "", map[string]any{"history_visibility": vis})
}

// seesEvent reports whether GET /event shows the event to cl.
func seesEvent(c *T, cl *Client, room, id string) bool {
	r := cl.Do("GET", cs("/rooms/%s/event/%s", room, id), nil)
	switch r.Status {
	case 200:
		return true
	case 403, 404:
		return false
	}
	c.Errorf("GET /event: want 200, 403 or 404: %s", r)
	return false
}

// TestHistoryVisibility_PerEvent checks that each event is judged by the
// history visibility in force when it was sent and the reader's
// membership then, not by the room's current setting.
func TestHistoryVisibility_PerEvent(t *testing.T) {
	t.Parallel()
	run(t, "ChangeToJoinedHidesOnlyLaterEvents", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "shared")
		early := a.send(room, "shared era")
		hv := setVis(a, room, "joined")
		hidden := a.send(room, "joined era, before b")
		b.join(room)
		late := a.send(room, "after b joined")
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		for id, want := range map[string]bool{early: true, hv: true, hidden: false, late: true} {
			if chunk.has(id) != want {
				c.Errorf("/messages: event %s visible=%v, want %v", id, chunk.has(id), want)
			}
			if seesEvent(c, b, room, id) != want {
				c.Errorf("/event %s: visible=%v, want %v", id, !want, want)
			}
		}
		f := `{"room":{"timeline":{"limit":50}}}`
		tl := b.sync(url.Values{"filter": {f}}.Encode()).Rooms.Join[room].Timeline.Events
		if !tl.has(early) || tl.has(hidden) || !tl.has(late) {
			c.Errorf("initial sync timeline: early=%v hidden=%v late=%v", tl.has(early), tl.has(hidden), tl.has(late))
		}
		j := b.Must("GET", cs("/rooms/%s/context/%s", room, late)+"?limit=20", nil)
		var before Events
		decode(c, j["events_before"], &before)
		if before.has(hidden) || !before.has(early) {
			c.Errorf("/context events_before: hidden=%v early=%v", before.has(hidden), before.has(early))
		}
	})
	run(t, "ChangeToSharedShowsOnlyLaterEvents", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "joined")
		hidden := a.send(room, "joined era")
		setVis(a, room, "shared")
		shared := a.send(room, "shared era, before b")
		b.join(room)
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if chunk.has(hidden) || !chunk.has(shared) {
			c.Errorf("/messages: joined-era visible=%v, shared-era visible=%v", chunk.has(hidden), chunk.has(shared))
		}
	})
	run(t, "InvitedSeesFromInvite", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "invited")
		before := a.send(room, "before the invite")
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		during := a.send(room, "while b is invited")
		b.join(room)
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if chunk.has(before) || !chunk.has(during) {
			c.Errorf("invited: before-invite visible=%v, during-invite visible=%v", chunk.has(before), chunk.has(during))
		}
	})
	run(t, "WorldReadableEraStaysReadable", func(c *T) {
		a, b, out := c.user(), c.user(), c.user()
		room := roomVis(a, "world_readable")
		open := a.send(room, "world readable era")
		if !seesEvent(c, out, room, open) {
			c.Errorf("a non-member cannot read a world_readable room's event")
		}
		setVis(a, room, "joined")
		closed := a.send(room, "joined era")
		out.MustErr("GET", cs("/rooms/%s/messages", room)+"?dir=b", nil, 403, "M_FORBIDDEN")
		b.join(room)
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if !chunk.has(open) || chunk.has(closed) {
			c.Errorf("world_readable era visible=%v, joined era visible=%v", chunk.has(open), chunk.has(closed))
		}
	})
	run(t, "LeftRoomTimelineStopsAtLeave", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "shared")
		b.join(room)
		during := a.send(room, "while b is here")
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		after := a.send(room, "after b left")
		f := `{"room":{"include_leave":true,"timeline":{"limit":50}}}`
		lr, ok := b.sync(url.Values{"filter": {f}}.Encode()).Rooms.Leave[room]
		if !ok {
			c.Fatalf("rooms.leave lacks the room")
		}
		if !lr.Timeline.Events.has(during) || lr.Timeline.Events.has(after) {
			c.Errorf("left timeline: during=%v after=%v", lr.Timeline.Events.has(during), lr.Timeline.Events.has(after))
		}
		if lr.State.Events.find("m.room.create", sp("")) == nil && lr.Timeline.Events.find("m.room.create", sp("")) == nil {
			c.Errorf("left room has no m.room.create in state or timeline")
		}
	})
	run(t, "SearchRelationsThreadsFollowVisibility", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "joined")
		early := a.send(room, "needle early")
		a.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{"msgtype": "m.text", "body": "reply",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": early}})
		b.join(room)
		late := a.send(room, "needle late")
		j := b.Must("POST", cs("/search"), map[string]any{"search_categories": map[string]any{
			"room_events": map[string]any{"search_term": "needle"}}})
		res, _ := get(j, "search_categories", "room_events", "results").([]any)
		found := map[string]bool{}
		for _, r := range res {
			found[str(r, "result", "event_id")] = true
		}
		if found[early] || !found[late] {
			c.Errorf("search: early=%v late=%v", found[early], found[late])
		}
		if r := b.Do("GET", p("/_matrix/client/v1/rooms/%s/relations/%s", room, early), nil); r.Status != 403 && r.Status != 404 {
			c.Errorf("/relations of an invisible event: %s", r)
		}
		th := b.Must("GET", p("/_matrix/client/v1/rooms/%s/threads", room), nil)
		var roots Events
		decode(c, th["chunk"], &roots)
		if roots.has(early) {
			c.Errorf("/threads lists a root from before the join")
		}
	})
}

// TestSync_NewlyJoined checks that the first incremental sync after a join
// carries the room as an initial sync would.
func TestSync_NewlyJoined(t *testing.T) {
	t.Parallel()
	checkRoom := func(c *T, s *Sync, room string, want []string) {
		jr, ok := s.Rooms.Join[room]
		if !ok {
			c.Fatalf("rooms.join lacks %s", room)
		}
		if jr.State.Events.find("m.room.create", sp("")) == nil {
			c.Errorf("state lacks m.room.create")
		}
		if jr.State.Events.find("m.room.topic", sp("")) == nil && jr.Timeline.Events.find("m.room.topic", sp("")) == nil {
			c.Errorf("neither state nor timeline has m.room.topic")
		}
		for _, e := range jr.State.Events {
			if jr.Timeline.Events.has(e.EventID) {
				c.Errorf("event %s both in state and timeline", e.EventID)
			}
		}
		for _, id := range want {
			if !jr.Timeline.Events.has(id) {
				c.Errorf("timeline lacks %s", id)
			}
		}
		if !jr.Timeline.Limited || jr.Timeline.PrevBatch == "" {
			c.Errorf("timeline limited=%v prev_batch=%q, want limited with a prev_batch", jr.Timeline.Limited, jr.Timeline.PrevBatch)
		}
	}
	filter := `{"room":{"timeline":{"limit":3}}}`
	history := func(a *Client, room string) []string {
		a.setState(room, "m.room.topic", "", map[string]any{"topic": "t"})
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, a.send(room, "history"))
		}
		return ids
	}
	run(t, "Join", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		ids := history(a, room)
		since := b.sync("").NextBatch
		b.join(room)
		s := b.syncUntil(since, filter, func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		checkRoom(c, s, room, ids[len(ids)-2:])
		// prev_batch continues backwards into the history.
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "from": {s.Rooms.Join[room].Timeline.PrevBatch}, "limit": {"10"}})
		if !chunk.has(ids[0]) {
			c.Errorf("/messages from prev_batch lacks older history")
		}
	})
	run(t, "Rejoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		ids := history(a, room)
		since := b.sync("").NextBatch
		b.join(room)
		s := b.syncUntil(since, filter, func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		checkRoom(c, s, room, ids[len(ids)-2:])
	})
	run(t, "InviteThenJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		ids := history(a, room)
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		since := b.syncUntil("", "", func(s *Sync) bool { _, ok := s.Rooms.Invite[room]; return ok }).NextBatch
		b.join(room)
		s := b.syncUntil(since, filter, func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		checkRoom(c, s, room, nil)
		_ = ids // private_chat is shared: history before the invite may show
	})
	run(t, "TimelineFollowsVisibility", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "joined")
		hidden := a.send(room, "before b joined")
		since := b.sync("").NextBatch
		b.join(room)
		late := a.send(room, "after b joined")
		f := `{"room":{"timeline":{"limit":50}}}`
		s := b.syncUntil(since, f, func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(late) })
		tl := s.Rooms.Join[room].Timeline.Events
		if tl.has(hidden) {
			c.Errorf("history_visibility joined: the newly joined room's timeline shows a message from before the join")
		}
		if tl.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("timeline lacks the join")
		}
	})
	run(t, "RejoinSeesSharedGap", func(c *T) {
		a, b := c.user(), c.user()
		room := roomVis(a, "shared")
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		gap := a.send(room, "while b was away")
		b.join(room)
		chunk, _ := b.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		if !chunk.has(gap) {
			c.Errorf("history_visibility shared: a re-joined member cannot see what was said while away")
		}
	})
	run(t, "LazyLoadMembersOfSenders", func(c *T) {
		a, b, d := c.user(), c.user(), c.user()
		room := a.publicRoom()
		d.join(room)
		history(a, room)
		said := d.send(room, "d speaks last")
		since := b.sync("").NextBatch
		b.join(room)
		f := `{"room":{"timeline":{"limit":3},"state":{"lazy_load_members":true}}}`
		s := b.syncUntil(since, f, func(s *Sync) bool { _, ok := s.Rooms.Join[room]; return ok })
		jr := s.Rooms.Join[room]
		if !jr.Timeline.Events.has(said) {
			c.Fatalf("timeline lacks d's message")
		}
		members := Events{}
		members = append(members, jr.State.Events...)
		members = append(members, jr.Timeline.Events...)
		for _, who := range []string{d.UserID, b.UserID} {
			if members.find("m.room.member", sp(who)) == nil {
				c.Errorf("lazy-loaded state lacks the member event of %s", who)
			}
		}
	})
}

// TestPresence_RoomMates checks the presence section of /sync.
func TestPresence_RoomMates(t *testing.T) {
	t.Parallel()
	hasPresence := func(s *Sync, user, state string) bool {
		for _, e := range s.Presence.Events {
			if e.Type == "m.presence" && e.Sender == user && e.Content["presence"] == state {
				return true
			}
		}
		return false
	}
	run(t, "InitialSyncShowsRoomMates", func(c *T) {
		a, b, stranger := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("PUT", cs("/presence/%s/status", a.UserID), map[string]any{"presence": "unavailable", "status_msg": "away"})
		stranger.Must("PUT", cs("/presence/%s/status", stranger.UserID), map[string]any{"presence": "online"})
		s := b.sync("")
		if !hasPresence(s, a.UserID, "unavailable") {
			c.Errorf("initial sync lacks a room mate's presence: %+v", s.Presence.Events)
		}
		for _, e := range s.Presence.Events {
			if e.Sender == stranger.UserID {
				c.Errorf("presence of a user sharing no room: %+v", e)
			}
			if e.Sender == a.UserID && e.Content["status_msg"] != "away" {
				c.Errorf("status_msg %v", e.Content["status_msg"])
			}
		}
	})
	run(t, "LongPollWokenAndNotRepeated", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		done := make(chan *Sync, 1)
		go func() {
			// Long enough that only a wake-up can answer with the change.
			done <- b.sync(url.Values{"since": {since}, "timeout": {"25000"}}.Encode())
		}()
		a.Must("PUT", cs("/presence/%s/status", a.UserID), map[string]any{"presence": "unavailable"})
		s := <-done
		if !hasPresence(s, a.UserID, "unavailable") {
			if len(s.Presence.Events)+len(s.Rooms.Join)+len(s.DeviceLists.Changed)+len(s.ToDevice.Events) == 0 {
				c.Errorf("the long poll ended empty: a room mate's presence change did not wake it")
			}
			s = b.syncUntil(s.NextBatch, "", func(s *Sync) bool { return hasPresence(s, a.UserID, "unavailable") })
		}
		again := b.sync(url.Values{"since": {s.NextBatch}, "timeout": {"0"}}.Encode())
		if hasPresence(again, a.UserID, "unavailable") {
			c.Errorf("the same presence change came twice")
		}
	})
	run(t, "SetPresenceOnSync", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.sync(url.Values{"set_presence": {"unavailable"}, "timeout": {"0"}}.Encode())
		b.syncUntil(since, "", func(s *Sync) bool { return hasPresence(s, a.UserID, "unavailable") })
		j := b.Must("GET", cs("/presence/%s/status", a.UserID), nil)
		if j["presence"] != "unavailable" {
			c.Errorf("GET presence after set_presence=unavailable: %v", j)
		}
	})
	run(t, "FilterExcludesPresence", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("PUT", cs("/presence/%s/status", a.UserID), map[string]any{"presence": "online"})
		s := b.sync(url.Values{"filter": {`{"presence":{"not_types":["*"]}}`}}.Encode())
		if len(s.Presence.Events) != 0 {
			c.Errorf("presence filtered out by not_types, got %+v", s.Presence.Events)
		}
		s = b.sync(url.Values{"filter": {`{"presence":{"senders":["` + a.UserID + `"]}}`}}.Encode())
		for _, e := range s.Presence.Events {
			if e.Sender != a.UserID {
				c.Errorf("presence senders filter let %s through", e.Sender)
			}
		}
		if !hasPresence(s, a.UserID, "online") {
			c.Errorf("presence senders filter dropped %s", a.UserID)
		}
	})
}
