package sytest

import (
	"net/url"
	"testing"
)

// TestSync_Membership checks how membership changes show in /sync.
func TestSync_Membership(t *testing.T) {
	t.Parallel()
	hasRoom := func(s *Sync, room string) (join, leave, invite bool) {
		_, join = s.Rooms.Join[room]
		_, leave = s.Rooms.Leave[room]
		_, invite = s.Rooms.Invite[room]
		return
	}
	run(t, "LeaveAppearsOnce", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, l, _ := hasRoom(s, room); return l })
		a.send(room, "after b left")
		s2 := b.sync(url.Values{"since": {s.NextBatch}, "timeout": {"300"}}.Encode())
		if j, l, _ := hasRoom(s2, room); j || l {
			c.Errorf("room still in sync after the leave was delivered (join=%v leave=%v)", j, l)
		}
	})
	run(t, "BanInLeaveSection", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("POST", cs("/rooms/%s/ban", room), map[string]any{"user_id": b.UserID})
		s := b.syncUntil(since, "", func(s *Sync) bool { _, l, _ := hasRoom(s, room); return l })
		lv := s.Rooms.Leave[room]
		all := append(append(Events{}, lv.State.Events...), lv.Timeline.Events...)
		if m := all.find("m.room.member", sp(b.UserID)); m == nil || m.Content["membership"] != "ban" {
			c.Errorf("rooms.leave lacks the ban event")
		}
	})
	run(t, "RejoinGetsStateChangedWhileAway", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "name": "before"})
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		since := b.sync("").NextBatch
		a.setState(room, "m.room.name", "", map[string]any{"name": "changed while away"})
		for i := 0; i < 5; i++ {
			a.send(room, "chatter")
		}
		b.join(room)
		f := `{"room":{"timeline":{"limit":2}}}`
		s := b.syncUntil(since, f, func(s *Sync) bool { j, _, _ := hasRoom(s, room); return j })
		jr := s.Rooms.Join[room]
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		if n := all.find("m.room.name", sp("")); n == nil || n.Content["name"] != "changed while away" {
			c.Errorf("rejoined room's sync lacks the name set while away")
		}
	})
	run(t, "RejectedInviteLeavesInvites", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat", "invite": []string{b.UserID}})
		s := b.syncUntil("", "", func(s *Sync) bool { _, _, i := hasRoom(s, room); return i })
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		s = b.syncUntil(s.NextBatch, "", func(s *Sync) bool { _, l, _ := hasRoom(s, room); return l })
		if _, _, i := hasRoom(s, room); i {
			c.Errorf("rejected invite still in rooms.invite")
		}
		if _, _, i := hasRoom(b.sync(""), room); i {
			c.Errorf("initial sync still lists the rejected invite")
		}
	})
}

// TestSync_LazyLoading checks lazy_load_members: member events of the
// timeline's senders are always there, even when their join is old.
func TestSync_LazyLoading(t *testing.T) {
	t.Parallel()
	const lazy = `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}`
	run(t, "InitialIncludesSenders", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		x.join(room)
		b.send(room, "from b")
		jr := a.sync(url.Values{"filter": {lazy}}.Encode()).Rooms.Join[room]
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		if all.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("lazy initial sync lacks the sender's member event")
		}
	})
	run(t, "IncrementalIncludesOldJoiner", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		x.join(room)
		since := a.sync(url.Values{"filter": {lazy}}.Encode()).NextBatch
		id := b.send(room, "first words from b")
		s := a.syncUntil(since, lazy, func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		jr := s.Rooms.Join[room]
		all := append(append(Events{}, jr.State.Events...), jr.Timeline.Events...)
		if all.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("lazy incremental sync lacks the member event of a sender who joined before since")
		}
	})
}

// TestMembership_Races checks that the derived views (joined_rooms,
// joined_members, sync) agree with room state after racing changes.
func TestMembership_Races(t *testing.T) {
	t.Parallel()
	run(t, "JoinLeaveRaceConsistent", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		done := make(chan struct{}, 2)
		for w := 0; w < 2; w++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 0; i < 8; i++ {
					if (i+w)%2 == 0 {
						b.Do("POST", cs("/join/%s", room), map[string]any{})
					} else {
						b.Do("POST", cs("/rooms/%s/leave", room), map[string]any{})
					}
				}
			}()
		}
		<-done
		<-done
		state := b.membership(room, b.UserID)
		if state == "" {
			state = a.membership(room, b.UserID)
		}
		inJoined := contains(b.joinedRooms(), room)
		jm := a.Must("GET", cs("/rooms/%s/joined_members", room), nil)
		_, inMembers := get(jm, "joined").(map[string]any)[b.UserID]
		if (state == "join") != inJoined || inJoined != inMembers {
			c.Errorf("membership %q, in joined_rooms %v, in joined_members %v", state, inJoined, inMembers)
		}
		_, inSync := b.sync("").Rooms.Join[room]
		if inSync != (state == "join") {
			c.Errorf("membership %q but in sync rooms.join: %v", state, inSync)
		}
	})
}

// TestMembership_MembersQuery checks the /members filters Element uses
// with lazy loading.
func TestMembership_MembersQuery(t *testing.T) {
	t.Parallel()
	members := func(c *T, cl *Client, room, query string) Events {
		j := cl.Must("GET", cs("/rooms/%s/members", room)+"?"+query, nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		return chunk
	}
	run(t, "NotMembershipLeave", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		x.join(room)
		x.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		chunk := members(c, a, room, "not_membership=leave")
		if chunk.find("m.room.member", sp(x.UserID)) != nil || chunk.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("not_membership=leave gave %d members", len(chunk))
		}
	})
	run(t, "AtToken", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		at := a.sync("").NextBatch
		x.join(room)
		chunk := members(c, a, room, url.Values{"at": {at}}.Encode())
		if chunk.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("members at the token lack b")
		}
		if chunk.find("m.room.member", sp(x.UserID)) != nil {
			c.Errorf("members at a token from before x joined include x")
		}
	})
}
