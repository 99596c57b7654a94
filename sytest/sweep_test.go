package sytest

import (
	"strings"
	"testing"
)

// TestBadInput_Sweep sends malformed and wrongly typed bodies with every
// method to the common endpoints: whatever the answer, never a 5xx (Do
// records those) and never a 2xx for a body that is not a JSON object.
func TestBadInput_Sweep(t *testing.T) {
	t.Parallel()
	run(t, "NoServerErrors", func(c *T) {
		u, o := c.user(), c.user()
		room := u.publicRoom()
		o.join(room)
		ev := u.send(room, "target")
		paths := []string{
			cs("/login"), cs("/register"), cs("/account/password"), cs("/account/whoami"),
			cs("/devices"), cs("/devices/%s", u.DeviceID), cs("/delete_devices"),
			cs("/createRoom"), cs("/join/%s", room), cs("/rooms/%s/join", room),
			cs("/rooms/%s/invite", room), cs("/rooms/%s/kick", room), cs("/rooms/%s/ban", room),
			cs("/rooms/%s/unban", room), cs("/rooms/%s/forget", room),
			cs("/rooms/%s/send/m.room.message/%s", room, txn()), cs("/rooms/%s/state/m.room.topic/", room),
			cs("/rooms/%s/state/m.room.power_levels/", room), cs("/rooms/%s/state/m.room.member/%s", room, o.UserID),
			cs("/rooms/%s/redact/%s/%s", room, ev, txn()), cs("/rooms/%s/typing/%s", room, u.UserID),
			cs("/rooms/%s/receipt/m.read/%s", room, ev), cs("/rooms/%s/read_markers", room),
			cs("/rooms/%s/messages", room), cs("/rooms/%s/context/%s", room, ev), cs("/rooms/%s/event/%s", room, ev),
			cs("/directory/room/%s", "#sweep"+uniq("a")+":"+c.server()),
			cs("/profile/%s/displayname", u.UserID), cs("/profile/%s/avatar_url", u.UserID),
			cs("/presence/%s/status", u.UserID), cs("/user/%s/filter", u.UserID),
			cs("/user/%s/account_data/org.scop.sweep", u.UserID), cs("/user/%s/rooms/%s/account_data/org.scop.sweep", u.UserID, room),
			cs("/pushrules/global/room/%s", room), cs("/keys/upload"), cs("/keys/query"), cs("/keys/claim"),
			cs("/sendToDevice/org.scop.x/%s", txn()), cs("/publicRooms"), cs("/user_directory/search"),
		}
		wrongTypes := `{"user_id":5,"room_id":[],"displayname":{},"avatar_url":1,"content":"x","visibility":{},` +
			`"membership":7,"reason":[],"typing":"yes","timeout":"soon","presence":1,"devices":"all",` +
			`"new_password":1,"auth":"x","identifier":"me","password":[],"type":{},"invite":"x","users":[],` +
			`"device_keys":"k","one_time_keys":[],"messages":"m","m.fully_read":1,"actions":"notify","search_term":5}`
		bodies := []string{"", "{", "[]", `"s"`, wrongTypes, "{\"a\":\"\xff\"}"}
		for _, path := range paths {
			for _, method := range []string{"GET", "PUT", "POST", "DELETE"} {
				for _, body := range bodies {
					var b any
					if body != "" {
						b = body
					}
					r := u.Do(method, path, b)
					notObject := body == "" || !strings.HasPrefix(body, "{\"") || body == "{"
					if r.Status >= 200 && r.Status < 300 && notObject && method != "GET" && method != "DELETE" && body != "" {
						c.Errorf("non-object body %q accepted: %s", body, r)
					}
				}
			}
		}
		// The sweep must have run authenticated throughout.
		u.Must("GET", cs("/account/whoami"), nil)
		if !contains(u.joinedRooms(), room) {
			c.Errorf("the sweep's garbage changed the user's membership")
		}
	})
	run(t, "NullBodyRejected", func(c *T) {
		// JSON null is valid JSON but not the object every body must be.
		u := c.user()
		room := u.createRoom(nil)
		for _, tc := range []struct{ method, path string }{
			{"POST", cs("/createRoom")},
			{"PUT", cs("/devices/%s", u.DeviceID)},
			{"POST", cs("/user/%s/filter", u.UserID)},
			{"PUT", cs("/rooms/%s/send/m.room.message/%s", room, txn())},
		} {
			r := u.Do(tc.method, tc.path, "null")
			if r.Status != 400 || (r.Errcode() != "M_BAD_JSON" && r.Errcode() != "M_NOT_JSON") {
				c.Errorf("body null: want 400 M_BAD_JSON: %s", r)
			}
		}
	})
}
