package rooms

import (
	"encoding/json"
	"testing"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// FuzzFastBuild builds client-supplied content and event types both with
// the fast path and with GMSL's EventBuilder: whenever the fast path
// builds an event, its JSON, event ID and client format must equal
// GMSL's, and it must step aside whenever GMSL refuses the input.
func FuzzFastBuild(f *testing.F) {
	for _, tc := range fastContents {
		f.Add(tc.content, tc.typ)
	}
	f.Add(`{"a":{"b":[1,{"c":"\u0000"}]},"":""}`, "m.room.message")
	f.Add(`{"x":"\ud800"}`, "m.room.message")
	f.Add(`{"x":1,"x":2}`, "m.room.message")
	f.Add(`[1]`, "m.room.message")
	f.Add(`{"body":"x"}`, "")
	var rooms []*fastRoom
	for _, v := range []gmsl.RoomVersion{gmsl.RoomVersionV10, gmsl.RoomVersionV11, gmsl.RoomVersionV12} {
		rooms = append(rooms, newFastRoom(f, v))
	}
	f.Fuzz(func(t *testing.T, content, typ string) {
		// The send handler only passes JSON objects.
		if !json.Valid([]byte(content)) {
			return
		}
		p := proto{Sender: "@alice:test", Type: typ, Content: json.RawMessage(content)}
		for _, fr := range rooms {
			fr.compare(t, p)
		}
	})
}
