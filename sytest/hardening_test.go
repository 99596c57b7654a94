package sytest

import (
	"testing"
)

// Hardening: behaviours found wrong while reviewing the presence, knock,
// restricted join, hierarchy, upgrade and sliding sync features.

func TestPresence_Privacy(t *testing.T) {
	t.Parallel()
	run(t, "StrangerForbiddenRoomMateAllowed", func(c *T) {
		a, b, stranger := c.user(), c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		a.Must("PUT", cs("/presence/%s/status", a.UserID), map[string]any{"presence": "online", "status_msg": "secret plans"})
		if j := b.Must("GET", cs("/presence/%s/status", a.UserID), nil); j["presence"] != "online" {
			c.Errorf("room mate's GET presence: %v", j)
		}
		if j := a.Must("GET", cs("/presence/%s/status", a.UserID), nil); j["status_msg"] != "secret plans" {
			c.Errorf("own GET presence: %v", j)
		}
		// Presence goes to users sharing a room (as in /sync): a stranger
		// must not read the status message.
		stranger.MustErr("GET", cs("/presence/%s/status", a.UserID), nil, 403, "M_FORBIDDEN")
		stranger.MustErr("GET", cs("/presence/%s/status", "@nobody"+uniq("x")+":"+c.server()), nil, 404, "M_NOT_FOUND")
	})
}
