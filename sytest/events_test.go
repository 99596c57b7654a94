package sytest

import (
	"net/url"
	"strings"
	"testing"
)

// messages calls /messages and decodes the chunk.
func (cl *Client) messages(roomID string, q url.Values) (Events, map[string]any) {
	j := cl.Must("GET", cs("/rooms/%s/messages", roomID)+"?"+q.Encode(), nil)
	var chunk Events
	decode(cl.c, j["chunk"], &chunk)
	return chunk, j
}

// bodies lists the text bodies of the m.room.message events.
func bodies(es Events) []string {
	var out []string
	for _, e := range es {
		if e.Type == "m.room.message" {
			b, _ := e.Content["body"].(string)
			out = append(out, b)
		}
	}
	return out
}

func eq(a []string, b ...string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestMessages(t *testing.T) {
	t.Parallel()
	run(t, "Send", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "hi")
		j := u.Must("GET", cs("/rooms/%s/event/%s", room, id), nil)
		if str(j, "content", "body") != "hi" || j["sender"] != u.UserID || j["type"] != "m.room.message" {
			c.Errorf("event %v", j)
		}
	})
	run(t, "TxnIDIdempotent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		path := cs("/rooms/%s/send/m.room.message/%s", room, "same-txn")
		a := u.Must("PUT", path, map[string]any{"msgtype": "m.text", "body": "once"})
		b := u.Must("PUT", path, map[string]any{"msgtype": "m.text", "body": "once"})
		if a["event_id"] != b["event_id"] {
			c.Errorf("same txn gave %v and %v", a["event_id"], b["event_id"])
		}
		chunk, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"20"}})
		if n := len(bodies(chunk)); n != 1 {
			c.Errorf("%d messages in room, want 1", n)
		}
	})
	run(t, "TxnIDScopedToDevice", func(c *T) {
		u := c.user()
		o := u.login()
		room := u.createRoom(nil)
		path := cs("/rooms/%s/send/m.room.message/%s", room, "dev-txn")
		a := u.Must("PUT", path, map[string]any{"msgtype": "m.text", "body": "a"})
		b := o.Must("PUT", path, map[string]any{"msgtype": "m.text", "body": "b"})
		if a["event_id"] == b["event_id"] {
			c.Errorf("two devices' txn %s share event %v", "dev-txn", a["event_id"])
		}
	})
	run(t, "NonMemberCannotSend", func(c *T) {
		a, x := c.user(), c.user()
		room := a.publicRoom()
		x.MustErr("PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn()),
			map[string]any{"msgtype": "m.text", "body": "x"}, 403, "M_FORBIDDEN")
	})
	run(t, "NonMemberCannotRead", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		x.MustErr("GET", cs("/rooms/%s/messages", room)+"?dir=b", nil, 403, "M_FORBIDDEN")
	})
	// sendFive sends m1..m5 and returns a sync token from before them.
	sendFive := func(c *T) (*Client, string, string, []string) {
		u := c.user()
		room := u.createRoom(nil)
		before := u.sync("").NextBatch
		var ids []string
		for _, b := range []string{"m1", "m2", "m3", "m4", "m5"} {
			ids = append(ids, u.send(room, b))
		}
		return u, room, before, ids
	}
	run(t, "BackwardsPaging", func(c *T) {
		u, room, _, _ := sendFive(c)
		chunk, j := u.messages(room, url.Values{"dir": {"b"}, "limit": {"3"}})
		if got := bodies(chunk); !eq(got, "m5", "m4", "m3") {
			c.Fatalf("first page %v, want m5 m4 m3", got)
		}
		end := str(j, "end")
		if end == "" || str(j, "start") == "" {
			c.Fatalf("no start/end: %v", j)
		}
		chunk, _ = u.messages(room, url.Values{"dir": {"b"}, "limit": {"2"}, "from": {end}})
		if got := bodies(chunk); !eq(got, "m2", "m1") {
			c.Errorf("second page %v, want m2 m1", got)
		}
	})
	run(t, "BackwardsToStartOfRoom", func(c *T) {
		u, room, _, _ := sendFive(c)
		chunk, j := u.messages(room, url.Values{"dir": {"b"}, "limit": {"100"}})
		if chunk.find("m.room.create", sp("")) == nil {
			c.Errorf("paging 100 back does not reach m.room.create")
		}
		if _, ok := j["end"]; ok && len(chunk) < 100 {
			// Spec: end is omitted when there are no more events.
			chunk2, _ := u.messages(room, url.Values{"dir": {"b"}, "limit": {"100"}, "from": {str(j, "end")}})
			if len(chunk2) != 0 {
				c.Errorf("events before m.room.create: %v", chunk2.ids())
			}
		}
	})
	run(t, "ForwardsFromSyncToken", func(c *T) {
		u, room, before, _ := sendFive(c)
		chunk, _ := u.messages(room, url.Values{"dir": {"f"}, "limit": {"10"}, "from": {before}})
		if got := bodies(chunk); !eq(got, "m1", "m2", "m3", "m4", "m5") {
			c.Errorf("forward page %v, want m1..m5", got)
		}
	})
	run(t, "ForwardsLimit", func(c *T) {
		u, room, before, _ := sendFive(c)
		chunk, j := u.messages(room, url.Values{"dir": {"f"}, "limit": {"2"}, "from": {before}})
		if got := bodies(chunk); !eq(got, "m1", "m2") {
			c.Fatalf("forward page %v, want m1 m2", got)
		}
		chunk, _ = u.messages(room, url.Values{"dir": {"f"}, "limit": {"2"}, "from": {str(j, "end")}})
		if got := bodies(chunk); !eq(got, "m3", "m4") {
			c.Errorf("second forward page %v, want m3 m4", got)
		}
	})
	run(t, "FromTo", func(c *T) {
		u, room, before, _ := sendFive(c)
		_, j := u.messages(room, url.Values{"dir": {"b"}, "limit": {"3"}})
		mid := str(j, "end") // just before m3
		chunk, _ := u.messages(room, url.Values{"dir": {"f"}, "limit": {"10"}, "from": {before}, "to": {mid}})
		if got := bodies(chunk); !eq(got, "m1", "m2") {
			c.Errorf("from..to forward %v, want m1 m2", got)
		}
		chunk, _ = u.messages(room, url.Values{"dir": {"b"}, "limit": {"10"}, "from": {mid}, "to": {before}})
		if got := bodies(chunk); !eq(got, "m2", "m1") {
			c.Errorf("from..to backward %v, want m2 m1", got)
		}
	})
	run(t, "EventByID", func(c *T) {
		u, room, _, ids := sendFive(c)
		j := u.Must("GET", cs("/rooms/%s/event/%s", room, ids[2]), nil)
		if j["event_id"] != ids[2] || str(j, "content", "body") != "m3" || j["room_id"] != room {
			c.Errorf("event %v", j)
		}
	})
	run(t, "EventUnknown", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("GET", cs("/rooms/%s/event/%s", room, "$doesnotexist"), nil, 404, "M_NOT_FOUND")
	})
	run(t, "EventNonMemberForbidden", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		id := a.send(room, "secret")
		r := x.Do("GET", cs("/rooms/%s/event/%s", room, id), nil)
		if r.Status != 403 && r.Status != 404 {
			c.Errorf("want 403 or 404: %s", r)
		}
	})
	run(t, "Context", func(c *T) {
		u, room, _, ids := sendFive(c)
		j := u.Must("GET", cs("/rooms/%s/context/%s", room, ids[2])+"?limit=2", nil)
		if str(j, "event", "event_id") != ids[2] {
			c.Errorf("event %v", j["event"])
		}
		var before, after Events
		decode(c, j["events_before"], &before)
		decode(c, j["events_after"], &after)
		if len(before) == 0 || before[0].EventID != ids[1] {
			c.Errorf("events_before %v, want %s first", before.ids(), ids[1])
		}
		if len(after) == 0 || after[0].EventID != ids[3] {
			c.Errorf("events_after %v, want %s first", after.ids(), ids[3])
		}
		if len(before)+len(after) > 2 {
			c.Errorf("limit 2 gave %d context events", len(before)+len(after))
		}
		if str(j, "start") == "" || str(j, "end") == "" {
			c.Errorf("no start/end tokens: %v", j)
		}
		var st Events
		decode(c, j["state"], &st)
		if st.find("m.room.member", sp(u.UserID)) == nil {
			c.Errorf("context state lacks the sender's member event")
		}
	})
	run(t, "ContextUnknownEvent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("GET", cs("/rooms/%s/context/%s", room, "$nope"), nil, 404, "M_NOT_FOUND")
	})
	run(t, "CustomEventType", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		j := u.Must("PUT", cs("/rooms/%s/send/org.scop.custom/%s", room, txn()), map[string]any{"x": []int{1, 2}})
		e := u.Must("GET", cs("/rooms/%s/event/%s", room, str(j, "event_id")), nil)
		if e["type"] != "org.scop.custom" || get(e, "content", "x", 1) != float64(2) {
			c.Errorf("event %v", e)
		}
	})
}

func TestState(t *testing.T) {
	t.Parallel()
	run(t, "PutGet", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.setState(room, "org.scop.thing", "key1", map[string]any{"n": "v"})
		if !strings.HasPrefix(id, "$") {
			c.Errorf("event_id %q", id)
		}
		if v := u.state(room, "org.scop.thing", "key1")["n"]; v != "v" {
			c.Errorf("got %v", v)
		}
	})
	run(t, "EmptyStateKeyWithoutSlash", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.Must("PUT", cs("/rooms/%s/state/m.room.topic", room), map[string]any{"topic": "t1"})
		j := u.Must("GET", cs("/rooms/%s/state/m.room.topic", room), nil)
		if j["topic"] != "t1" {
			c.Errorf("topic %v", j)
		}
	})
	run(t, "Overwrite", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.setState(room, "m.room.topic", "", map[string]any{"topic": "one"})
		u.setState(room, "m.room.topic", "", map[string]any{"topic": "two"})
		if v := u.state(room, "m.room.topic", "")["topic"]; v != "two" {
			c.Errorf("topic %v, want two", v)
		}
	})
	run(t, "GetUnknown", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("GET", cs("/rooms/%s/state/org.scop.none/", room), nil, 404, "M_NOT_FOUND")
	})
	run(t, "AllState", func(c *T) {
		u := c.user()
		room := u.createRoom(map[string]any{"name": "all"})
		r := u.Do("GET", cs("/rooms/%s/state", room), nil)
		if r.Status != 200 {
			c.Fatalf("state: %s", r)
		}
		var es Events
		if err := decodeBytes(r.Body, &es); err != nil {
			c.Fatalf("state is not a list of events: %v", err)
		}
		for _, typ := range []string{"m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.name"} {
			if es.find(typ, sp("")) == nil {
				c.Errorf("/state lacks %s", typ)
			}
		}
		if es.find("m.room.member", sp(u.UserID)) == nil {
			c.Errorf("/state lacks creator's membership")
		}
	})
	run(t, "PowerLevelForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.MustErr("PUT", cs("/rooms/%s/state/m.room.name/", room), map[string]any{"name": "x"}, 403, "M_FORBIDDEN")
	})
	run(t, "PowerLevelRaise", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "room_version": "10"})
		b.join(room)
		pl := a.state(room, "m.room.power_levels", "")
		users, _ := pl["users"].(map[string]any)
		users[b.UserID] = 50
		a.setState(room, "m.room.power_levels", "", pl)
		b.setState(room, "m.room.name", "", map[string]any{"name": "by b"})
	})
	run(t, "NonMemberCannotRead", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		x.MustErr("GET", cs("/rooms/%s/state", room), nil, 403, "M_FORBIDDEN")
		x.MustErr("GET", cs("/rooms/%s/state/m.room.create/", room), nil, 403, "M_FORBIDDEN")
	})
	run(t, "NonMemberCannotWrite", func(c *T) {
		a, x := c.user(), c.user()
		room := a.publicRoom()
		x.MustErr("PUT", cs("/rooms/%s/state/org.scop.x/", room), map[string]any{}, 403, "M_FORBIDDEN")
	})
	run(t, "CannotSetOthersMemberEvent", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.MustErr("PUT", cs("/rooms/%s/state/m.room.member/%s", room, a.UserID),
			map[string]any{"membership": "leave"}, 403, "M_FORBIDDEN")
	})
	run(t, "ReadAfterLeave", func(c *T) {
		// A user who left still sees state as of their leave.
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "name": "before"})
		b.join(room)
		b.Must("POST", cs("/rooms/%s/leave", room), map[string]any{})
		r := b.Do("GET", cs("/rooms/%s/state/m.room.name/", room), nil)
		if r.Status != 200 && r.Status != 403 {
			c.Errorf("want 200 (state at leave) or 403: %s", r)
		}
	})
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	redact := func(cl *Client, room, id, txnID string) *Resp {
		return cl.Do("PUT", cs("/rooms/%s/redact/%s/%s", room, id, txnID), map[string]any{"reason": "oops"})
	}
	run(t, "RedactOwn", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "to be redacted")
		r := redact(u, room, id, txn())
		if r.Status != 200 || !strings.HasPrefix(str(r.JSON, "event_id"), "$") {
			c.Fatalf("redact: %s", r)
		}
		e := u.Must("GET", cs("/rooms/%s/event/%s", room, id), nil)
		if len(e["content"].(map[string]any)) != 0 {
			c.Errorf("redacted content still %v", e["content"])
		}
		if get(e, "unsigned", "redacted_because") == nil {
			c.Errorf("no unsigned.redacted_because: %v", e)
		}
	})
	run(t, "TxnIDIdempotent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "x")
		a, b := redact(u, room, id, "rtxn"), redact(u, room, id, "rtxn")
		if a.Status != 200 || str(a.JSON, "event_id") != str(b.JSON, "event_id") {
			c.Errorf("same txn: %s / %s", a, b)
		}
	})
	run(t, "OthersWithoutPowerForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		id := a.send(room, "mine")
		c.wantErr(redact(b, room, id, txn()), 403, "M_FORBIDDEN")
	})
	run(t, "ModeratorRedactsOthers", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		id := b.send(room, "spam")
		if r := redact(a, room, id, txn()); r.Status != 200 {
			c.Errorf("admin redacting: %s", r)
		}
	})
	run(t, "InSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "x")
		since := u.sync("").NextBatch
		rid := str(redact(u, room, id, txn()).JSON, "event_id")
		s := u.syncUntil(since, "", func(s *Sync) bool { return s.Rooms.Join[room].Timeline.Events.has(rid) })
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			if e.EventID == rid {
				if e.Type != "m.room.redaction" || (e.Redacts != id && e.Content["redacts"] != id) {
					c.Errorf("redaction event %+v", e)
				}
			}
		}
	})
	run(t, "UnknownEvent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		r := redact(u, room, "$nosuchevent", txn())
		if r.Status != 200 && r.Status != 404 && r.Status != 400 {
			c.Errorf("want 200, 400 or 404: %s", r)
		}
	})
}

func TestAliases(t *testing.T) {
	t.Parallel()
	alias := func(c *T) string { return "#" + uniq("al") + ":" + c.server() }
	run(t, "PutGet", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		al := alias(c)
		u.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		j := u.Must("GET", cs("/directory/room/%s", al), nil)
		if j["room_id"] != room {
			c.Errorf("room_id %v", j["room_id"])
		}
		if !contains(j["servers"], c.server()) {
			c.Errorf("servers %v lacks %s", j["servers"], c.server())
		}
	})
	run(t, "GetWithoutAuth", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		al := alias(c)
		u.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		// Spec: alias lookup needs no authentication.
		j := c.anon().Must("GET", cs("/directory/room/%s", al), nil)
		if j["room_id"] != room {
			c.Errorf("room_id %v", j["room_id"])
		}
	})
	run(t, "Duplicate", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		al := alias(c)
		u.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		u.MustErr("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room}, 409, "")
	})
	run(t, "Delete", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		al := alias(c)
		u.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		u.Must("DELETE", cs("/directory/room/%s", al), nil)
		u.MustErr("GET", cs("/directory/room/%s", al), nil, 404, "M_NOT_FOUND")
	})
	run(t, "DeleteOthersForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		al := alias(c)
		a.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		b.MustErr("DELETE", cs("/directory/room/%s", al), nil, 403, "M_FORBIDDEN")
	})
	run(t, "GetUnknown", func(c *T) {
		c.anon().MustErr("GET", cs("/directory/room/%s", alias(c)), nil, 404, "M_NOT_FOUND")
	})
	run(t, "DeleteUnknown", func(c *T) {
		c.user().MustErr("DELETE", cs("/directory/room/%s", alias(c)), nil, 404, "M_NOT_FOUND")
	})
	run(t, "PutUnknownRoom", func(c *T) {
		u := c.user()
		r := u.Do("PUT", cs("/directory/room/%s", alias(c)), map[string]any{"room_id": "!nosuchroom:" + c.server()})
		if r.Status < 400 || r.Status > 499 {
			c.Errorf("want a 4xx: %s", r)
		}
	})
	run(t, "PutInvalidAlias", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("PUT", cs("/directory/room/%s", "not-an-alias"), map[string]any{"room_id": room}, 400, "")
	})
	run(t, "PutOtherServer", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.MustErr("PUT", cs("/directory/room/%s", "#"+uniq("x")+":other.invalid"), map[string]any{"room_id": room}, 4, "")
	})
	run(t, "RoomAliases", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		al := alias(c)
		u.Must("PUT", cs("/directory/room/%s", al), map[string]any{"room_id": room})
		j := u.Must("GET", cs("/rooms/%s/aliases", room), nil)
		if !contains(j["aliases"], al) {
			c.Errorf("aliases %v lacks %s", j["aliases"], al)
		}
	})
}
