package sytest

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
)

func TestSync_More(t *testing.T) {
	t.Parallel()
	run(t, "GapStateInLimitedSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		u.setState(room, "m.room.topic", "", map[string]any{"topic": "changed in the gap"})
		for i := 0; i < 5; i++ {
			u.send(room, fmt.Sprint("after ", i))
		}
		s := u.sync(url.Values{"since": {since}, "filter": {`{"room":{"timeline":{"limit":2}}}`}}.Encode())
		jr := s.Rooms.Join[room]
		if !jr.Timeline.Limited {
			c.Fatalf("timeline not limited")
		}
		e := jr.State.Events.find("m.room.topic", sp(""))
		if e == nil || e.Content["topic"] != "changed in the gap" {
			c.Errorf("state section lacks the topic set in the gap: %v", jr.State.Events)
		}
	})
	run(t, "StateAndTimelineDisjoint", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"name": "n"})
		u.send(room, "x")
		for _, q := range []string{"", url.Values{"filter": {`{"room":{"timeline":{"limit":2}}}`}}.Encode()} {
			jr := u.sync(q).Rooms.Join[room]
			for _, e := range jr.State.Events {
				if jr.Timeline.Events.has(e.EventID) {
					c.Errorf("sync %q: %s (%s) in both state and timeline", q, e.EventID, e.Type)
				}
			}
		}
	})
	run(t, "TransactionIDOnlyForSendingDevice", func(c *T) {
		u := c.user()
		o := u.login()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		osince := o.sync("").NextBatch
		j := u.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, "echo-txn"), map[string]any{"msgtype": "m.text", "body": "e"})
		id := str(j, "event_id")
		find := func(s *Sync) *Event {
			for i, e := range s.Rooms.Join[room].Timeline.Events {
				if e.EventID == id {
					return &s.Rooms.Join[room].Timeline.Events[i]
				}
			}
			return nil
		}
		e := find(u.syncUntil(since, "", func(s *Sync) bool { return find(s) != nil }))
		if e.Unsigned["transaction_id"] != "echo-txn" {
			c.Errorf("sending device: unsigned %v lacks transaction_id echo-txn", e.Unsigned)
		}
		e = find(o.syncUntil(osince, "", func(s *Sync) bool { return find(s) != nil }))
		if _, ok := e.Unsigned["transaction_id"]; ok {
			c.Errorf("another device sees transaction_id: %v", e.Unsigned)
		}
	})
	run(t, "SinceTokenReusable", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		u.send(room, "a")
		u.send(room, "b")
		q := url.Values{"since": {since}}.Encode()
		one, two := u.sync(q), u.sync(q)
		if !eq(one.Rooms.Join[room].Timeline.Events.ids(), two.Rooms.Join[room].Timeline.Events.ids()...) {
			c.Errorf("the same since gave %v then %v", one.Rooms.Join[room].Timeline.Events.ids(), two.Rooms.Join[room].Timeline.Events.ids())
		}
	})
	run(t, "TimelineOrderMatchesMessages", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		for i := 0; i < 5; i++ {
			u.send(room, fmt.Sprint("o", i))
		}
		tl := bodies(u.sync("").Rooms.Join[room].Timeline.Events)
		if !eq(tl, "o0", "o1", "o2", "o3", "o4") {
			c.Errorf("sync timeline %v not chronological", tl)
		}
	})
	run(t, "SummaryMemberCounts", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": x.UserID})
		sum := a.sync("").Rooms.Join[room].Summary
		if sum["m.joined_member_count"] != float64(2) || sum["m.invited_member_count"] != float64(1) {
			c.Errorf("summary %v, want 2 joined 1 invited", sum)
		}
	})
}

func TestMembership_More(t *testing.T) {
	t.Parallel()
	run(t, "InviteAlreadyJoinedForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.MustErr("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID}, 403, "M_FORBIDDEN")
	})
	run(t, "RescindedInviteCannotJoin", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat", "invite": []string{b.UserID}})
		a.Must("POST", cs("/rooms/%s/kick", room), map[string]any{"user_id": b.UserID})
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "JoinReason", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.Must("POST", cs("/join/%s", room), map[string]any{"reason": "saying hi"})
		if r := a.state(room, "m.room.member", b.UserID)["reason"]; r != "saying hi" {
			c.Errorf("reason %v", r)
		}
	})
	run(t, "IsDirectInvite", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "trusted_private_chat", "is_direct": true, "invite": []string{b.UserID}})
		m := a.state(room, "m.room.member", b.UserID)
		if m["membership"] != "invite" || m["is_direct"] != true {
			c.Errorf("invite event %v lacks is_direct", m)
		}
	})
	run(t, "TrustedPrivateChatInviteesAreAdmins", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "trusted_private_chat", "invite": []string{b.UserID}, "room_version": "10"})
		pl := a.state(room, "m.room.power_levels", "")
		if get(pl, "users", b.UserID) != float64(100) {
			c.Errorf("invitee power %v, want 100", get(pl, "users", b.UserID))
		}
	})
	run(t, "CannotGrantAboveOwnLevel", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "room_version": "10",
			"power_level_content_override": map[string]any{"users": map[string]any{a.UserID: 100, b.UserID: 50}}})
		b.join(room)
		x.join(room)
		pl := b.state(room, "m.room.power_levels", "")
		pl["users"].(map[string]any)[x.UserID] = 75
		b.MustErr("PUT", cs("/rooms/%s/state/m.room.power_levels/", room), pl, 403, "M_FORBIDDEN")
	})
	run(t, "ConcurrentJoins", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		const n = 8
		users := make([]*Client, n)
		for i := range users {
			users[i] = c.user()
		}
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := u.Do("POST", cs("/join/%s", room), map[string]any{}); r.Status != 200 {
					c.Errorf("concurrent join: %s", r)
				}
			}()
		}
		wg.Wait()
		j := a.Must("GET", cs("/rooms/%s/joined_members", room), nil)
		if joined, _ := j["joined"].(map[string]any); len(joined) != n+1 {
			c.Errorf("%d joined members after %d concurrent joins, want %d", len(joined), n, n+1)
		}
		s := a.sync("")
		jr := s.Rooms.Join[room]
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		for _, u := range users {
			if m := all.find("m.room.member", sp(u.UserID)); m == nil || m.Content["membership"] != "join" {
				c.Errorf("sync lacks %s's join", u.UserID)
			}
		}
	})
	run(t, "JoinedMembersNonMemberForbidden", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		x.MustErr("GET", cs("/rooms/%s/joined_members", room), nil, 403, "M_FORBIDDEN")
	})
}

func TestState_More(t *testing.T) {
	t.Parallel()
	run(t, "ConcurrentWritesConverge", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := u.Do("PUT", cs("/rooms/%s/state/m.room.topic/", room), map[string]any{"topic": fmt.Sprint("t", i)})
				if r.Status != 200 {
					c.Errorf("concurrent state PUT: %s", r)
				}
			}()
		}
		wg.Wait()
		cur := u.state(room, "m.room.topic", "")["topic"]
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"50"}})
		last := chunk.find("m.room.topic", sp(""))
		if last == nil || last.Content["topic"] != cur {
			c.Errorf("current topic %v differs from the newest topic event in the timeline", cur)
		}
	})
}

func TestMessages_More(t *testing.T) {
	t.Parallel()
	run(t, "ConcurrentSameTxnID", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		path := cs("/rooms/%s/send/m.room.message/%s", room, "racy-txn")
		ids := make(chan string, 5)
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := u.Do("PUT", path, map[string]any{"msgtype": "m.text", "body": "race"})
				if r.Status != 200 {
					c.Errorf("send: %s", r)
					return
				}
				ids <- str(r.JSON, "event_id")
			}()
		}
		wg.Wait()
		close(ids)
		set := map[string]bool{}
		for id := range ids {
			set[id] = true
		}
		if len(set) != 1 {
			c.Errorf("5 concurrent sends with one txnId made %d events", len(set))
		}
	})
	run(t, "MessagesTypesFilter", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "m")
		u.setState(room, "m.room.topic", "", map[string]any{"topic": "t"})
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "filter": {`{"types":["m.room.message"]}`}})
		if len(chunk) != 1 || chunk[0].Type != "m.room.message" {
			c.Errorf("types filter on /messages gave %d events", len(chunk))
		}
	})
}

func TestRedaction_More(t *testing.T) {
	t.Parallel()
	run(t, "MemberEventKeepsMembership", func(c *T) {
		a, b := c.user(), c.user()
		b.Must("PUT", cs("/profile/%s/displayname", b.UserID), map[string]any{"displayname": "Secret"})
		room := a.publicRoom()
		b.join(room)
		chunk, _ := a.messages(room, url.Values{"dir": {"b"}, "limit": {"5"}})
		m := chunk.find("m.room.member", sp(b.UserID))
		if m == nil {
			c.Fatalf("join event not in /messages")
		}
		a.Must("PUT", cs("/rooms/%s/redact/%s/%s", room, m.EventID, txn()), map[string]any{})
		e := a.Must("GET", cs("/rooms/%s/event/%s", room, m.EventID), nil)
		if str(e, "content", "membership") != "join" || get(e, "content", "displayname") != nil {
			c.Errorf("redacted member content %v, want only membership", e["content"])
		}
	})
	run(t, "RedactedInMessages", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "gone")
		u.Must("PUT", cs("/rooms/%s/redact/%s/%s", room, id, txn()), map[string]any{})
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"5"}})
		for _, e := range chunk {
			if e.EventID == id && len(e.Content) != 0 {
				c.Errorf("/messages still shows content %v", e.Content)
			}
		}
	})
}

func TestAccount_More(t *testing.T) {
	t.Parallel()
	run(t, "ThreePIDs", func(c *T) {
		j := c.user().Must("GET", cs("/account/3pid"), nil)
		if _, ok := j["threepids"].([]any); !ok {
			c.Errorf("no threepids list: %v", j)
		}
	})
	run(t, "Deactivate", func(c *T) {
		u := c.user()
		r := u.Do("POST", cs("/account/deactivate"), map[string]any{})
		if r.Status != 401 {
			c.Fatalf("want 401 UIA challenge: %s", r)
		}
		u.Must("POST", cs("/account/deactivate"), map[string]any{"auth": map[string]any{
			"type": "m.login.password", "session": str(r.JSON, "session"), "password": password,
			"identifier": map[string]any{"type": "m.id.user", "user": u.Local}}})
		u.MustErr("GET", cs("/account/whoami"), nil, 401, "M_UNKNOWN_TOKEN")
		l := c.anon().Do("POST", cs("/login"), map[string]any{"type": "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": u.Local}, "password": password})
		if l.Status != 403 || (l.Errcode() != "M_USER_DEACTIVATED" && l.Errcode() != "M_FORBIDDEN") {
			c.Errorf("login after deactivation: %s", l)
		}
		c.anon().MustErr("GET", cs("/register/available")+"?username="+u.Local, nil, 400, "M_USER_IN_USE")
	})
}
