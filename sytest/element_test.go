package sytest

import (
	"net/url"
	"testing"
)

// Tests of features Element relies on beyond the core room APIs.

func TestRelations(t *testing.T) {
	t.Parallel()
	setup := func(c *T) (*Client, string, string, string, string) {
		u := c.user()
		room := u.createRoom(nil)
		root := u.send(room, "root")
		edit := str(u.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{
			"msgtype": "m.text", "body": "* root2", "m.new_content": map[string]any{"msgtype": "m.text", "body": "root2"},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": root}}), "event_id")
		reply := str(u.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()), map[string]any{
			"msgtype": "m.text", "body": "in thread", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}), "event_id")
		return u, room, root, edit, reply
	}
	run(t, "AllRelations", func(c *T) {
		u, room, root, edit, reply := setup(c)
		j := u.Must("GET", "/_matrix/client/v1"+p("/rooms/%s/relations/%s", room, root), nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		if !chunk.has(edit) || !chunk.has(reply) {
			c.Errorf("relations %v lack the edit %s or the reply %s", chunk.ids(), edit, reply)
		}
	})
	run(t, "ByRelType", func(c *T) {
		u, room, root, edit, reply := setup(c)
		j := u.Must("GET", "/_matrix/client/v1"+p("/rooms/%s/relations/%s/m.thread", room, root), nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		if !chunk.has(reply) || chunk.has(edit) {
			c.Errorf("m.thread relations %v, want only %s", chunk.ids(), reply)
		}
	})
	run(t, "Threads", func(c *T) {
		u, room, root, _, _ := setup(c)
		j := u.Must("GET", "/_matrix/client/v1"+p("/rooms/%s/threads", room), nil)
		var chunk Events
		decode(c, j["chunk"], &chunk)
		if !chunk.has(root) {
			c.Errorf("threads %v lack the root %s", chunk.ids(), root)
		}
	})
	run(t, "NonMemberForbidden", func(c *T) {
		u, room, root, _, _ := setup(c)
		_ = u
		x := c.user()
		x.MustErr("GET", "/_matrix/client/v1"+p("/rooms/%s/relations/%s", room, root), nil, 403, "M_FORBIDDEN")
	})
}

func TestPushRules_Write(t *testing.T) {
	t.Parallel()
	run(t, "PutGetDeleteRoomRule", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		path := cs("/pushrules/global/room/%s", room)
		u.Must("PUT", path, map[string]any{"actions": []any{}})
		j := u.Must("GET", path, nil)
		if j["rule_id"] != room {
			c.Errorf("rule %v", j)
		}
		u.Must("DELETE", path, nil)
		u.MustErr("GET", path, nil, 404, "M_NOT_FOUND")
	})
	run(t, "DisableMaster", func(c *T) {
		u := c.user()
		path := cs("/pushrules/global/override/.m.rule.master/enabled")
		u.Must("PUT", path, map[string]any{"enabled": true})
		if j := u.Must("GET", path, nil); j["enabled"] != true {
			c.Errorf("enabled %v", j)
		}
	})
	run(t, "UnknownRule", func(c *T) {
		c.user().MustErr("GET", cs("/pushrules/global/override/org.scop.none"), nil, 404, "M_NOT_FOUND")
	})
}

func TestSync_Element(t *testing.T) {
	t.Parallel()
	run(t, "PrevBatchBackfillsIncremental", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.send(room, "old")
		since := u.sync("").NextBatch
		id := u.send(room, "new")
		s := u.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		pb := s.Rooms.Join[room].Timeline.PrevBatch
		if pb == "" {
			c.Fatalf("incremental timeline with earlier events has no prev_batch")
		}
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"1"}, "from": {pb}})
		if got := bodies(chunk); !eq(got, "old") {
			c.Errorf("/messages from prev_batch gave %v, want old", got)
		}
	})
	run(t, "UnreadNotificationCount", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		id := b.send(room, "ping")
		s := a.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(id) })
		n, _ := get(s.Rooms.Join[room].UnreadNotifications, "notification_count").(float64)
		if n < 1 {
			c.Fatalf("notification_count %v after a message from another member", s.Rooms.Join[room].UnreadNotifications)
		}
		a.Must("POST", cs("/rooms/%s/receipt/m.read/%s", room, id), map[string]any{})
		a.syncUntil(s.NextBatch, "", func(s *Sync) bool {
			n, ok := get(s.Rooms.Join[room].UnreadNotifications, "notification_count").(float64)
			return ok && n == 0
		})
	})
	run(t, "PresenceOfRoomMates", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("PUT", cs("/presence/%s/status", a.UserID), map[string]any{"presence": "online", "status_msg": "hello"})
		b.syncUntil(since, "", func(s *Sync) bool {
			for _, e := range s.Presence.Events {
				if e.Type == "m.presence" && e.Sender == a.UserID && e.Content["presence"] == "online" {
					return true
				}
			}
			return false
		})
	})
	run(t, "IgnoredUserHidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("PUT", cs("/user/%s/account_data/m.ignored_user_list", a.UserID),
			map[string]any{"ignored_users": map[string]any{b.UserID: map[string]any{}}})
		since := a.sync("").NextBatch
		hidden := b.send(room, "you cannot see me")
		marker := a.send(room, "marker")
		s := a.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(marker) })
		if s.Rooms.Join[room].Timeline.Events.has(hidden) {
			c.Errorf("sync shows a message from an ignored user")
		}
	})
	run(t, "ToDevice", func(c *T) {
		a, b := c.user(), c.user()
		since := b.sync("").NextBatch
		a.Must("PUT", cs("/sendToDevice/%s/%s", "org.scop.ping", txn()), map[string]any{
			"messages": map[string]any{b.UserID: map[string]any{b.DeviceID: map[string]any{"n": 7}}}})
		s := b.syncUntil(since, "", func(s *Sync) bool { return s.ToDevice.Events.find("org.scop.ping", nil) != nil })
		if e := s.ToDevice.Events.find("org.scop.ping", nil); e.Sender != a.UserID || e.Content["n"] != float64(7) {
			c.Errorf("to-device event %+v", e)
		}
		// Delivered once: the next sync does not repeat it.
		s2 := b.sync(url.Values{"since": {s.NextBatch}, "timeout": {"200"}}.Encode())
		if s2.ToDevice.Events.find("org.scop.ping", nil) != nil {
			c.Errorf("to-device event delivered twice")
		}
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	upload := func(u *Client) {
		dk := map[string]any{
			"user_id": u.UserID, "device_id": u.DeviceID,
			"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
			"keys":       map[string]any{"curve25519:" + u.DeviceID: "Y3VydmUyNTUxOWtleQ", "ed25519:" + u.DeviceID: "ZWQyNTUxOWtleQ"},
			"signatures": map[string]any{u.UserID: map[string]any{"ed25519:" + u.DeviceID: "c2lnbmF0dXJl"}},
		}
		otk := map[string]any{"signed_curve25519:AAAAAQ": map[string]any{"key": "b3RrMQ",
			"signatures": map[string]any{u.UserID: map[string]any{"ed25519:" + u.DeviceID: "c2ln"}}}}
		j := u.Must("POST", cs("/keys/upload"), map[string]any{"device_keys": dk, "one_time_keys": otk})
		if get(j, "one_time_key_counts", "signed_curve25519") != float64(1) {
			c := u.c
			c.Errorf("one_time_key_counts %v", j)
		}
	}
	run(t, "UploadQuery", func(c *T) {
		a, b := c.user(), c.user()
		upload(a)
		j := b.Must("POST", cs("/keys/query"), map[string]any{"device_keys": map[string]any{a.UserID: []string{}}})
		if str(j, "device_keys", a.UserID, a.DeviceID, "keys", "ed25519:"+a.DeviceID) != "ZWQyNTUxOWtleQ" {
			c.Errorf("query %v", j)
		}
	})
	run(t, "Claim", func(c *T) {
		a, b := c.user(), c.user()
		upload(a)
		j := b.Must("POST", cs("/keys/claim"), map[string]any{"one_time_keys": map[string]any{a.UserID: map[string]any{a.DeviceID: "signed_curve25519"}}})
		if str(j, "one_time_keys", a.UserID, a.DeviceID, "signed_curve25519:AAAAAQ", "key") != "b3RrMQ" {
			c.Errorf("claim %v", j)
		}
		// One-time means once.
		j = b.Must("POST", cs("/keys/claim"), map[string]any{"one_time_keys": map[string]any{a.UserID: map[string]any{a.DeviceID: "signed_curve25519"}}})
		if get(j, "one_time_keys", a.UserID, a.DeviceID, "signed_curve25519:AAAAAQ") != nil {
			c.Errorf("one-time key claimed twice")
		}
	})
	run(t, "CountInSync", func(c *T) {
		a := c.user()
		upload(a)
		if n := get(a.sync("").OneTimeKeysCount, "signed_curve25519"); n != float64(1) {
			c.Errorf("device_one_time_keys_count %v", a.sync("").OneTimeKeysCount)
		}
	})
	run(t, "RoomKeysVersionAbsent", func(c *T) {
		c.user().MustErr("GET", cs("/room_keys/version"), nil, 404, "M_NOT_FOUND")
	})
}

func TestRooms_Upgrade(t *testing.T) {
	t.Parallel()
	run(t, "Upgrade", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"room_version": "10", "name": "old"})
		j := u.Must("POST", cs("/rooms/%s/upgrade", room), map[string]any{"new_version": "11"})
		nr := str(j, "replacement_room")
		if nr == "" {
			c.Fatalf("no replacement_room: %v", j)
		}
		if ts := u.state(room, "m.room.tombstone", ""); ts["replacement_room"] != nr {
			c.Errorf("tombstone %v", ts)
		}
		cr := u.state(nr, "m.room.create", "")
		if cr["room_version"] != "11" || str(cr, "predecessor", "room_id") != room {
			c.Errorf("new room create %v", cr)
		}
		if n := u.state(nr, "m.room.name", "")["name"]; n != "old" {
			c.Errorf("name not carried over: %v", n)
		}
	})
}

func TestVersions_Discovery(t *testing.T) {
	t.Parallel()
	run(t, "WellKnownIfServed", func(c *T) {
		r := c.anon().Do("GET", "/.well-known/matrix/client", nil)
		if r.Status == 404 {
			return
		}
		if r.Status != 200 || str(r.JSON, "m.homeserver", "base_url") == "" {
			c.Errorf("want 404 or 200 with m.homeserver.base_url: %s", r)
		}
	})
	run(t, "AuthMetadataAbsentOrValid", func(c *T) {
		// A 404 M_UNRECOGNIZED tells clients to use legacy login.
		r := c.anon().Do("GET", "/_matrix/client/v1/auth_metadata", nil)
		switch {
		case r.Status == 404 && r.Errcode() == "M_UNRECOGNIZED":
		case r.Status == 200 && str(r.JSON, "issuer") != "":
		default:
			c.Errorf("want 404 M_UNRECOGNIZED or 200 with issuer: %s", r)
		}
	})
	run(t, "ThirdPartyProtocols", func(c *T) {
		r := c.user().Do("GET", cs("/thirdparty/protocols"), nil)
		if r.Status != 200 || r.JSON == nil {
			c.Errorf("want 200 with an object: %s", r)
		}
	})
}

func TestKeys_DeviceLists(t *testing.T) {
	t.Parallel()
	has := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	run(t, "NewDeviceOfRoomMateInSync", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		nb := b.login()
		nb.Must("POST", cs("/keys/upload"), map[string]any{"device_keys": map[string]any{
			"user_id": b.UserID, "device_id": nb.DeviceID, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
			"keys":       map[string]any{"ed25519:" + nb.DeviceID: "a2V5"},
			"signatures": map[string]any{b.UserID: map[string]any{"ed25519:" + nb.DeviceID: "c2ln"}}}})
		a.syncUntil(since, "", func(s *Sync) bool { return has(s.DeviceLists.Changed, b.UserID) })
		j := a.Must("GET", cs("/keys/changes")+"?"+url.Values{"from": {since}, "to": {a.sync("").NextBatch}}.Encode(), nil)
		if !contains(j["changed"], b.UserID) {
			c.Errorf("/keys/changes %v lacks %s", j, b.UserID)
		}
	})
	run(t, "LeftRoomMateInLeft", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := a.sync("").NextBatch
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		a.syncUntil(since, "", func(s *Sync) bool { return has(s.DeviceLists.Left, b.UserID) })
	})
}
