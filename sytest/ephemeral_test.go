package sytest

import (
	"net/url"
	"testing"
)

// ephemeral returns the first ephemeral event of typ in room, if any.
func ephemeral(s *Sync, room, typ string) *Event {
	return s.Rooms.Join[room].Ephemeral.Events.find(typ, nil)
}

func TestTyping(t *testing.T) {
	t.Parallel()
	run(t, "StartSeenByOthers", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("PUT", cs("/rooms/%s/typing/%s", room, a.UserID), map[string]any{"typing": true, "timeout": 30000})
		b.syncUntil(since, "", func(s *Sync) bool {
			e := ephemeral(s, room, "m.typing")
			return e != nil && contains(e.Content["user_ids"], a.UserID)
		})
	})
	run(t, "Stop", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		since := b.sync("").NextBatch
		a.Must("PUT", cs("/rooms/%s/typing/%s", room, a.UserID), map[string]any{"typing": true, "timeout": 30000})
		s := b.syncUntil(since, "", func(s *Sync) bool { return ephemeral(s, room, "m.typing") != nil })
		a.Must("PUT", cs("/rooms/%s/typing/%s", room, a.UserID), map[string]any{"typing": false})
		b.syncUntil(s.NextBatch, "", func(s *Sync) bool {
			e := ephemeral(s, room, "m.typing")
			return e != nil && !contains(e.Content["user_ids"], a.UserID)
		})
	})
	run(t, "OtherUserForbidden", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		b.MustErr("PUT", cs("/rooms/%s/typing/%s", room, a.UserID), map[string]any{"typing": true, "timeout": 1000}, 403, "M_FORBIDDEN")
	})
	run(t, "NonMemberForbidden", func(c *T) {
		a, x := c.user(), c.user()
		room := a.publicRoom()
		x.MustErr("PUT", cs("/rooms/%s/typing/%s", room, x.UserID), map[string]any{"typing": true, "timeout": 1000}, 403, "M_FORBIDDEN")
	})
	run(t, "MissingTypingField", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		a.MustErr("PUT", cs("/rooms/%s/typing/%s", room, a.UserID), map[string]any{"timeout": 1000}, 400, "")
	})
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	run(t, "ReadReceiptInSync", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		id := a.send(room, "read me")
		since := a.sync("").NextBatch
		b.Must("POST", cs("/rooms/%s/receipt/m.read/%s", room, id), map[string]any{})
		a.syncUntil(since, "", func(s *Sync) bool {
			e := ephemeral(s, room, "m.receipt")
			return e != nil && get(e.Content, id, "m.read", b.UserID) != nil
		})
	})
	run(t, "PrivateReceiptHiddenFromOthers", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		id := a.send(room, "x")
		b.Must("POST", cs("/rooms/%s/receipt/m.read.private/%s", room, id), map[string]any{})
		// The owner sees it; others never do.
		b.syncUntil("", "", func(s *Sync) bool {
			e := ephemeral(s, room, "m.receipt")
			return e != nil && get(e.Content, id, "m.read.private", b.UserID) != nil
		})
		if e := ephemeral(a.sync(""), room, "m.receipt"); e != nil && get(e.Content, id, "m.read.private") != nil {
			c.Errorf("another member sees a private receipt: %v", e.Content)
		}
	})
	run(t, "UnknownEvent", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		r := a.Do("POST", cs("/rooms/%s/receipt/m.read/%s", room, "$nosuchevent"), map[string]any{})
		if r.Status != 200 && r.Status != 400 && r.Status != 404 {
			c.Errorf("want 200, 400 or 404: %s", r)
		}
	})
	run(t, "BadReceiptType", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		id := a.send(room, "x")
		a.MustErr("POST", cs("/rooms/%s/receipt/m.nonsense/%s", room, id), map[string]any{}, 400, "")
	})
	run(t, "ReadMarkers", func(c *T) {
		a := c.user()
		room := a.publicRoom()
		id := a.send(room, "x")
		a.Must("POST", cs("/rooms/%s/read_markers", room), map[string]any{"m.fully_read": id, "m.read": id})
		j := a.Must("GET", cs("/user/%s/rooms/%s/account_data/m.fully_read", a.UserID, room), nil)
		if j["event_id"] != id {
			c.Errorf("m.fully_read %v, want %s", j, id)
		}
	})
}

func TestPresence(t *testing.T) {
	t.Parallel()
	run(t, "SetGet", func(c *T) {
		u := c.user()
		u.Must("PUT", cs("/presence/%s/status", u.UserID), map[string]any{"presence": "online", "status_msg": "here"})
		j := u.Must("GET", cs("/presence/%s/status", u.UserID), nil)
		if j["presence"] != "online" || j["status_msg"] != "here" {
			c.Errorf("presence %v", j)
		}
	})
	run(t, "OtherUserForbidden", func(c *T) {
		a, b := c.user(), c.user()
		a.MustErr("PUT", cs("/presence/%s/status", b.UserID), map[string]any{"presence": "online"}, 403, "M_FORBIDDEN")
	})
	run(t, "BadState", func(c *T) {
		u := c.user()
		u.MustErr("PUT", cs("/presence/%s/status", u.UserID), map[string]any{"presence": "dancing"}, 400, "")
	})
}

func TestTags(t *testing.T) {
	t.Parallel()
	run(t, "PutGetDelete", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		u.Must("PUT", cs("/user/%s/rooms/%s/tags/%s", u.UserID, room, "m.favourite"), map[string]any{"order": 0.25})
		j := u.Must("GET", cs("/user/%s/rooms/%s/tags", u.UserID, room), nil)
		if get(j, "tags", "m.favourite", "order") != 0.25 {
			c.Errorf("tags %v", j)
		}
		u.Must("DELETE", cs("/user/%s/rooms/%s/tags/%s", u.UserID, room, "m.favourite"), nil)
		j = u.Must("GET", cs("/user/%s/rooms/%s/tags", u.UserID, room), nil)
		if get(j, "tags", "m.favourite") != nil {
			c.Errorf("tag not deleted: %v", j)
		}
	})
	run(t, "InSync", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		since := u.sync("").NextBatch
		u.Must("PUT", cs("/user/%s/rooms/%s/tags/%s", u.UserID, room, "u.work"), map[string]any{})
		u.syncUntil(since, "", func(s *Sync) bool {
			e := s.Rooms.Join[room].AccountData.Events.find("m.tag", nil)
			return e != nil && get(e.Content, "tags", "u.work") != nil
		})
	})
}

func TestUserDirectory(t *testing.T) {
	t.Parallel()
	run(t, "FindsRoomMate", func(c *T) {
		a, b := c.user(), c.user()
		name := "Dir" + uniq("n")
		b.Must("PUT", cs("/profile/%s/displayname", b.UserID), map[string]any{"displayname": name})
		room := a.publicRoom()
		b.join(room)
		j := a.Must("POST", cs("/user_directory/search"), map[string]any{"search_term": name, "limit": 10})
		found := false
		res, _ := j["results"].([]any)
		for _, r := range res {
			if str(r, "user_id") == b.UserID {
				found = true
			}
		}
		if !found {
			c.Errorf("search %q: %v lacks %s", name, j, b.UserID)
		}
		if _, ok := j["limited"].(bool); !ok {
			c.Errorf("no limited flag: %v", j)
		}
	})
	run(t, "MissingSearchTerm", func(c *T) {
		c.user().MustErr("POST", cs("/user_directory/search"), map[string]any{}, 400, "")
	})
}

func TestPublicRooms(t *testing.T) {
	t.Parallel()
	run(t, "VisibilityPublicListed", func(c *T) {
		u := c.user()
		name := "Public " + uniq("r")
		room := u.createRoom(map[string]any{"visibility": "public", "preset": "public_chat", "name": name})
		j := u.Must("GET", cs("/directory/list/room/%s", room), nil)
		if j["visibility"] != "public" {
			c.Errorf("visibility %v", j)
		}
		l := u.Must("POST", cs("/publicRooms"), map[string]any{"filter": map[string]any{"generic_search_term": name}})
		found := false
		chunk, _ := l["chunk"].([]any)
		for _, r := range chunk {
			if str(r, "room_id") == room {
				found = true
				if str(r, "name") != name || get(r, "num_joined_members") != float64(1) {
					c.Errorf("entry %v", r)
				}
			}
		}
		if !found {
			c.Errorf("public room not in /publicRooms: %v", l)
		}
	})
	run(t, "PrivateNotListed", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		j := u.Must("GET", cs("/directory/list/room/%s", room), nil)
		if j["visibility"] != "private" {
			c.Errorf("visibility %v", j)
		}
	})
	run(t, "SetVisibility", func(c *T) {
		u := c.user()
		room := u.publicRoom()
		u.Must("PUT", cs("/directory/list/room/%s", room), map[string]any{"visibility": "public"})
		if j := c.anon().Must("GET", cs("/directory/list/room/%s", room), nil); j["visibility"] != "public" {
			c.Errorf("visibility %v", j)
		}
	})
	run(t, "GetPublicRooms", func(c *T) {
		j := c.user().Must("GET", cs("/publicRooms")+"?"+url.Values{"limit": {"5"}}.Encode(), nil)
		if _, ok := j["chunk"].([]any); !ok {
			c.Errorf("no chunk list: %v", j)
		}
	})
}
