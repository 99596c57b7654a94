package sytest

import "testing"

func TestProfile(t *testing.T) {
	t.Parallel()
	run(t, "DisplaynameSetGet", func(c *T) {
		u := c.user()
		u.Must("PUT", cs("/profile/%s/displayname", u.UserID), map[string]any{"displayname": "Alice Ü"})
		j := c.anon().Do("GET", cs("/profile/%s/displayname", u.UserID), nil)
		if j.Status == 401 || j.Status == 403 {
			// Servers may require auth for profile lookups.
			j = u.Do("GET", cs("/profile/%s/displayname", u.UserID), nil)
		}
		if j.Status != 200 || j.JSON["displayname"] != "Alice Ü" {
			c.Errorf("displayname: %s", j)
		}
	})
	run(t, "AvatarSetGet", func(c *T) {
		u := c.user()
		mxc := "mxc://" + c.server() + "/sytestavatar"
		u.Must("PUT", cs("/profile/%s/avatar_url", u.UserID), map[string]any{"avatar_url": mxc})
		j := u.Must("GET", cs("/profile/%s/avatar_url", u.UserID), nil)
		if j["avatar_url"] != mxc {
			c.Errorf("avatar_url %v", j)
		}
	})
	run(t, "GetWholeProfile", func(c *T) {
		u := c.user()
		mxc := "mxc://" + c.server() + "/a"
		u.Must("PUT", cs("/profile/%s/displayname", u.UserID), map[string]any{"displayname": "Whole"})
		u.Must("PUT", cs("/profile/%s/avatar_url", u.UserID), map[string]any{"avatar_url": mxc})
		j := u.Must("GET", cs("/profile/%s", u.UserID), nil)
		if j["displayname"] != "Whole" || j["avatar_url"] != mxc {
			c.Errorf("profile %v", j)
		}
	})
	run(t, "UnknownUser", func(c *T) {
		c.user().MustErr("GET", cs("/profile/%s", "@"+uniq("ghost")+":"+c.server()), nil, 404, "M_NOT_FOUND")
	})
	run(t, "OtherUserForbidden", func(c *T) {
		a, b := c.user(), c.user()
		a.MustErr("PUT", cs("/profile/%s/displayname", b.UserID), map[string]any{"displayname": "x"}, 403, "M_FORBIDDEN")
	})
	run(t, "WrongTypeBadJSON", func(c *T) {
		u := c.user()
		u.MustErr("PUT", cs("/profile/%s/displayname", u.UserID), map[string]any{"displayname": 5}, 400, "M_BAD_JSON")
	})
	run(t, "PropagatesToRooms", func(c *T) {
		u, o := c.user(), c.user()
		r1, r2 := u.publicRoom(), u.publicRoom()
		o.join(r1)
		since := o.sync("").NextBatch
		mxc := "mxc://" + c.server() + "/new"
		u.Must("PUT", cs("/profile/%s/displayname", u.UserID), map[string]any{"displayname": "Renamed"})
		u.Must("PUT", cs("/profile/%s/avatar_url", u.UserID), map[string]any{"avatar_url": mxc})
		for _, room := range []string{r1, r2} {
			m := u.state(room, "m.room.member", u.UserID)
			if m["displayname"] != "Renamed" || m["avatar_url"] != mxc || m["membership"] != "join" {
				c.Errorf("member event in %s: %v", room, m)
			}
		}
		// Other members see the new member event.
		o.syncUntil(since, "", func(s *Sync) bool {
			for _, e := range s.Rooms.Join[r1].Timeline.Events {
				if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == u.UserID && e.Content["avatar_url"] == mxc {
					return true
				}
			}
			return false
		})
	})
	run(t, "JoinCarriesProfile", func(c *T) {
		a, b := c.user(), c.user()
		b.Must("PUT", cs("/profile/%s/displayname", b.UserID), map[string]any{"displayname": "Joiner"})
		room := a.publicRoom()
		b.join(room)
		if dn := a.state(room, "m.room.member", b.UserID)["displayname"]; dn != "Joiner" {
			c.Errorf("join event displayname %v", dn)
		}
	})
}
