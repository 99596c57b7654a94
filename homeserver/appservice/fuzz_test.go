package appservice

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"scop/homeserver/accounts"
	"scop/homeserver/rooms"
)

// FuzzQueryPath checks that a client-supplied user ID or alias becomes
// exactly one path segment of the query URL: no query string, fragment
// or extra segment can be smuggled in, and it decodes back unchanged.
func FuzzQueryPath(f *testing.F) {
	for _, s := range []string{"@mail_a:test", "#mail_room:test", "", "a/b", "../../x", "a?b=c", "#frag#", "%2F", "é\x00\xff", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p := queryPath("rooms", id)
		u, err := url.Parse("http://127.0.0.1:1" + p)
		if err != nil {
			t.Fatalf("query path %q does not parse: %v", p, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("query path %q carries a query or fragment", p)
		}
		segs := strings.Split(u.EscapedPath(), "/")
		if len(segs) != 6 || segs[4] != "rooms" {
			t.Fatalf("query path %q has segments %q", p, segs)
		}
		if got, err := url.PathUnescape(segs[5]); err != nil || got != id {
			t.Fatalf("segment %q decodes to %q (%v), want %q", segs[5], got, err, id)
		}
	})
}

// FuzzTransaction checks interest matching and the transaction body on
// arbitrary event fields: no panic, a sender in the user namespace is
// always of interest, and the body decodes back to the events.
func FuzzTransaction(f *testing.F) {
	as, err := accounts.ParseAppService([]byte(`
id: b
as_token: as_token_0123456789
hs_token: hs_token_0123456789
sender_localpart: bot
namespaces:
  users: [{exclusive: true, regex: '@mail_.*:test'}]
  rooms: [{exclusive: false, regex: '!bridged.*:test'}]
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("@mail_a:test", "@bob:test", "!r:test", "m.room.member", "hi")
	f.Add("@bob:test", "@mail_a:test", "!r:test", "m.room.member", "")
	f.Add("@bot:test", "", "!bridged1:test", "m.room.message", "\"quoted\"\n")
	f.Add("", "", "", "", "\xff")
	f.Fuzz(func(t *testing.T, sender, stateKey, roomID, typ, body string) {
		raw, _ := json.Marshal(map[string]any{"type": typ, "sender": sender, "room_id": roomID, "content": map[string]string{"body": body}})
		e := rooms.StreamEvent{Pos: 1, RoomID: roomID, Type: typ, StateKey: &stateKey, Sender: sender, JSON: raw}
		got := matchEvent(&as, "test", e)
		if as.UserInNamespace(sender, "test") && !got {
			t.Fatalf("sender %q in the namespace but not of interest", sender)
		}
		txn, err := encodeTxn([]json.RawMessage{raw, raw}, []json.RawMessage{raw}, len(body)%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Events    []json.RawMessage `json:"events"`
			Ephemeral []json.RawMessage `json:"ephemeral"`
			MSC2409   []json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
		}
		if err := json.Unmarshal(txn, &back); err != nil || len(back.Events) != 2 || string(back.Events[0]) != string(raw) ||
			len(back.Ephemeral)+len(back.MSC2409) != 1 {
			t.Fatalf("transaction %s does not decode back: %v", txn, err)
		}
	})
}
