package rooms

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// fastRoom is a minimal room (create, power levels, the sender's join)
// built with GMSL, to build messages into.
type fastRoom struct {
	svc    *Service
	ver    gmsl.IRoomVersion
	roomID string
	auth   authProvider
	prev   []string
	depth  int64
	now    time.Time
}

func newFastRoom(tb testing.TB, v gmsl.RoomVersion) *fastRoom {
	tb.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	svc := &Service{id: Identity{ServerName: "test", KeyID: "ed25519:k", Key: key}}
	ver := gmsl.MustGetRoomVersion(v)
	fr := &fastRoom{svc: svc, ver: ver, auth: authProvider{}, prev: []string{}, now: time.UnixMilli(1_760_000_000_123)}
	create := `{"room_version":"` + string(v) + `"}`
	if !ver.DomainlessRoomIDs() {
		fr.roomID = "!room:test"
		create = `{"creator":"@alice:test","room_version":"` + string(v) + `"}`
	}
	fr.setState(tb, "@alice:test", spec.MRoomCreate, "", create)
	fr.setState(tb, "@alice:test", spec.MRoomMember, "@alice:test", `{"membership":"join"}`)
	fr.setState(tb, "@alice:test", spec.MRoomPowerLevels, "", fr.powerLevels(""))
	return fr
}

// powerLevels is power levels content giving alice 100 (in v12 she has
// more as the creator, and must not be listed), plus rest.
func (fr *fastRoom) powerLevels(rest string) string {
	users := `"@alice:test":100`
	if fr.ver.PrivilegedCreators() {
		users = ""
	}
	return `{"users":{` + users + `}` + rest + `}`
}

// setState builds a state event with GMSL and applies it.
func (fr *fastRoom) setState(tb testing.TB, sender, typ, stateKey, content string) {
	tb.Helper()
	roomID := fr.roomID
	if typ == spec.MRoomCreate && fr.ver.DomainlessRoomIDs() {
		roomID = ""
	}
	eb := fr.ver.NewEventBuilderFromProtoEvent(&gmsl.ProtoEvent{SenderID: sender, RoomID: roomID, Type: typ,
		StateKey: &stateKey, Content: spec.RawJSON(content), PrevEvents: fr.prev, Depth: fr.depth + 1})
	if err := eb.AddAuthEvents(fr.auth); err != nil {
		tb.Fatal(err)
	}
	pdu, err := eb.Build(fr.now, "test", "ed25519:k", fr.svc.id.Key)
	if err != nil {
		tb.Fatalf("build %s: %v", typ, err)
	}
	if err := allowed(pdu, fr.auth); err != nil {
		tb.Fatalf("%s not allowed: %v", typ, err)
	}
	if fr.roomID == "" {
		fr.roomID = pdu.RoomID().String()
	}
	fr.auth[tuple{typ, stateKey}] = &Event{ID: pdu.EventID(), PDU: pdu}
	fr.prev, fr.depth = []string{pdu.EventID()}, pdu.Depth()
}

// gmslBuild builds p with GMSL's EventBuilder, as buildPDU did.
func (fr *fastRoom) gmslBuild(p proto) (gmsl.PDU, error) {
	eb := fr.ver.NewEventBuilderFromProtoEvent(&gmsl.ProtoEvent{SenderID: p.Sender, RoomID: fr.roomID, Type: p.Type,
		StateKey: p.StateKey, Content: spec.RawJSON(p.Content), Redacts: p.Redacts, PrevEvents: fr.prev, Depth: fr.depth + 1})
	if err := eb.AddAuthEvents(fr.auth); err != nil {
		return nil, err
	}
	return eb.Build(fr.now, "test", "ed25519:k", fr.svc.id.Key)
}

// compare builds p both ways: when GMSL succeeds the fast path must give
// the same bytes or step aside, and when GMSL fails it must step aside.
// It reports whether the fast path built the event.
func (fr *fastRoom) compare(t *testing.T, p proto) bool {
	t.Helper()
	want, werr := fr.gmslBuild(p)
	got, client, ok := fr.svc.fastBuild(fr.ver, fr.roomID, p, fr.prev, fr.depth+1, fr.auth, fr.now)
	if werr != nil {
		if ok {
			t.Fatalf("GMSL fails (%v) but the fast path built %s", werr, got.JSON())
		}
		return false
	}
	if !ok {
		return false
	}
	if string(got.JSON()) != string(want.JSON()) {
		t.Fatalf("event JSON differs:\nfast %s\ngmsl %s", got.JSON(), want.JSON())
	}
	if got.EventID() != want.EventID() {
		t.Fatalf("event ID %s, GMSL %s", got.EventID(), want.EventID())
	}
	wantClient, err := clientJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(client) != string(wantClient) {
		t.Fatalf("client JSON differs:\nfast %s\ngmsl %s", client, wantClient)
	}
	// The event must verify like any other: hash and signature.
	if _, err := fr.ver.NewEventFromUntrustedJSON(got.JSON()); err != nil {
		t.Fatalf("fast event does not parse as untrusted: %v", err)
	}
	return true
}

var fastContents = []struct {
	name    string
	content string
	typ     string
	fast    bool // the fast path must build it (GMSL succeeds and it is covered)
}{
	{"plain", `{"msgtype":"m.text","body":"hello"}`, "m.room.message", true},
	{"whitespace", " {\n \"body\" : \"a b\" ,\t\"msgtype\":\"m.text\" } ", "m.room.message", true},
	{"unicode", `{"body":"héllo 😀 日本 \u00e9 \ud83d\ude00 \u2028 \u2029","msgtype":"m.text"}`, "m.room.message", true},
	{"html", `{"body":"<b>&amp;</b> > <","formatted_body":"<a href=\"x\">&</a>"}`, "m.room.message", true},
	{"escapes", `{"body":"q\"b\\s\/n\nt\tr\rf\fb\bc\u0001\u001f\u007f"}`, "m.room.message", true},
	{"large ints", `{"a":9007199254740991,"b":-9007199254740991,"c":0,"d":-1,"e":[1,2,3]}`, "m.room.message", true},
	{"nested", `{"z":{"y":{"x":[{"b":1,"a":2},[],{}],"w":null},"v":true},"a":false,"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"👍"}}`, "m.reaction", true},
	{"key order", `{"b":1,"B":2,"a":3,"A":4,"é":5,"e":6,"_":7,"~":8,"aa":9,"a.b":10}`, "m.room.message", true},
	{"empty", `{}`, "m.room.message", true},
	{"unicode type", `{"body":"x"}`, "com.example.é😀", true},
	{"odd type", `{"body":"x"}`, "a\"<b>&\\c\u0001", true},
	{"encrypted", `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgAEn","device_id":"D","sender_key":"k","session_id":"s"}`, "m.room.encrypted", true},
	{"zero float", `{"a":0.0}`, "m.room.message", true},
	{"big exponent", `{"a":1E3}`, "m.room.message", true},
	{"negative zero exponent", `{"a":-0e5,"b":-0.0}`, "m.room.message", true},
	{"escaped value", `{"a":"x\\y\"z","b":"\u0041"}`, "m.room.message", true},
	{"float", `{"a":1.5}`, "m.room.message", false},
	{"exponent", `{"a":1e3}`, "m.room.message", false},
	{"too large int", `{"a":9007199254740992}`, "m.room.message", false},
	{"negative zero", `{"a":-0}`, "m.room.message", false},
	{"escaped key", `{"a\"b":1}`, "m.room.message", false},
	{"escaped key slash", `{"a\\b":1}`, "m.room.message", false},
	{"unicode escaped key", `{"\u00e9":1,"e":2}`, "m.room.message", true},
	{"member type", `{"membership":"join","body":"x"}`, spec.MRoomMember, false},
	{"redaction type", `{"redacts":"$x"}`, spec.MRoomRedaction, false},
	{"power levels type", `{"users":{}}`, spec.MRoomPowerLevels, false},
	{"huge", `{"body":"` + strings.Repeat("x", 70000) + `"}`, "m.room.message", false},
}

// TestFastBuildMatchesGMSL checks the fast path byte for byte against
// GMSL's EventBuilder.Build in every room version it covers.
func TestFastBuildMatchesGMSL(t *testing.T) {
	for _, v := range []gmsl.RoomVersion{gmsl.RoomVersionV10, gmsl.RoomVersionV11, gmsl.RoomVersionV12} {
		fr := newFastRoom(t, v)
		for _, tc := range fastContents {
			t.Run(string(v)+"/"+tc.name, func(t *testing.T) {
				p := proto{Sender: "@alice:test", Type: tc.typ, Content: json.RawMessage(tc.content)}
				if built := fr.compare(t, p); built != tc.fast {
					t.Fatalf("fast path built=%v, want %v", built, tc.fast)
				}
			})
		}
	}
}

// TestFastBuildStepsAside checks the events the fast path leaves to GMSL.
func TestFastBuildStepsAside(t *testing.T) {
	key := ""
	cases := []struct {
		name string
		ver  gmsl.RoomVersion
		p    proto
	}{
		{"state event", gmsl.RoomVersionV11, proto{Sender: "@alice:test", Type: "m.room.topic", StateKey: &key, Content: json.RawMessage(`{"topic":"x"}`)}},
		{"redacts", gmsl.RoomVersionV10, proto{Sender: "@alice:test", Type: "m.room.redaction", Redacts: "$x", Content: json.RawMessage(`{}`)}},
		{"room v9", gmsl.RoomVersionV9, proto{Sender: "@alice:test", Type: "m.room.message", Content: json.RawMessage(`{"body":"x"}`)}},
		{"invalid utf-8", gmsl.RoomVersionV11, proto{Sender: "@alice:test", Type: "m.room.message", Content: json.RawMessage("{\"body\":\"\xff\"}")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFastRoom(t, tc.ver)
			if _, _, ok := fr.svc.fastBuild(fr.ver, fr.roomID, tc.p, fr.prev, fr.depth+1, fr.auth, fr.now); ok {
				t.Fatal("fast path built an event it does not cover")
			}
		})
	}
}

// TestFastBuildForkedPrevEvents covers several prev_events, as
// concurrent senders produce.
func TestFastBuildForkedPrevEvents(t *testing.T) {
	for _, v := range []gmsl.RoomVersion{gmsl.RoomVersionV10, gmsl.RoomVersionV11, gmsl.RoomVersionV12} {
		t.Run(string(v), func(t *testing.T) {
			fr := newFastRoom(t, v)
			base := fr.prev
			var heads []string
			for i := range 3 {
				p := proto{Sender: "@alice:test", Type: "m.room.message", Content: json.RawMessage(`{"body":"fork ` + string(rune('a'+i)) + `"}`)}
				fr.prev = base
				pdu, _, ok := fr.svc.fastBuild(fr.ver, fr.roomID, p, fr.prev, fr.depth+1, fr.auth, fr.now)
				if !ok {
					t.Fatal("not built")
				}
				heads = append(heads, pdu.EventID())
			}
			fr.prev, fr.depth = heads, fr.depth+1
			if !fr.compare(t, proto{Sender: "@alice:test", Type: "m.room.message", Content: json.RawMessage(`{"body":"join"}`)}) {
				t.Fatal("not built")
			}
		})
	}
}

// BenchmarkBuildMessage compares building one message event both ways.
func BenchmarkBuildMessage(b *testing.B) {
	fr := newFastRoom(b, gmsl.RoomVersionV11)
	p := proto{Sender: "@alice:test", Type: "m.room.message", Content: json.RawMessage(`{"msgtype":"m.text","body":"bench message 1234"}`)}
	b.Run("gmsl", func(b *testing.B) {
		for b.Loop() {
			pdu, err := fr.gmslBuild(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := clientJSON(pdu); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := fr.svc.fastBuild(fr.ver, fr.roomID, p, fr.prev, fr.depth+1, fr.auth, fr.now); !ok {
				b.Fatal("not built")
			}
		}
	})
}

// TestAllowedFastMatchesAllowed checks that the auth decision cache
// decides as gmsl.Allowed does, before and after the state changes.
func TestAllowedFastMatchesAllowed(t *testing.T) {
	for _, v := range []gmsl.RoomVersion{gmsl.RoomVersionV10, gmsl.RoomVersionV11, gmsl.RoomVersionV12} {
		t.Run(string(v), func(t *testing.T) {
			fr := newFastRoom(t, v)
			fr.setState(t, "@alice:test", spec.MRoomJoinRules, "", `{"join_rule":"public"}`)
			fr.setState(t, "@alice:test", spec.MRoomPowerLevels, "", fr.powerLevels(`,"events":{"m.secret":50}`))
			for _, u := range []string{"@bob:test", "@carol:test"} {
				fr.setState(t, u, spec.MRoomMember, u, `{"membership":"join"}`)
			}
			fr.setState(t, "@carol:test", spec.MRoomMember, "@carol:test", `{"membership":"leave"}`)
			check := func(sender, typ string, want bool) {
				t.Helper()
				p := proto{Sender: sender, Type: typ, Content: json.RawMessage(`{"body":"x"}`)}
				pdu, _, ok := fr.svc.fastBuild(fr.ver, fr.roomID, p, fr.prev, fr.depth+1, fr.auth, fr.now)
				if !ok {
					t.Fatalf("%s %s: not built", sender, typ)
				}
				for range 2 { // the second time may come from the cache
					slow, fast := allowed(pdu, fr.auth), allowedFast(pdu, fr.auth)
					if (slow == nil) != want || (fast == nil) != want {
						t.Fatalf("%s %s: Allowed %v, cached %v, want allowed=%v", sender, typ, slow, fast, want)
					}
				}
			}
			check("@alice:test", "m.room.message", true)
			check("@bob:test", "m.room.message", true)
			check("@bob:test", "m.secret", false)
			check("@alice:test", "m.secret", true)
			check("@carol:test", "m.room.message", false)
			check("@dave:test", "m.room.message", false)
			// New power levels: what bob could send before, he cannot now.
			fr.setState(t, "@alice:test", spec.MRoomPowerLevels, "", fr.powerLevels(`,"events_default":60`))
			check("@bob:test", "m.room.message", false)
			check("@alice:test", "m.room.message", true)
			// Bob leaves and joins again: a new member event.
			fr.setState(t, "@alice:test", spec.MRoomPowerLevels, "", fr.powerLevels(""))
			check("@bob:test", "m.room.message", true)
			fr.setState(t, "@bob:test", spec.MRoomMember, "@bob:test", `{"membership":"leave"}`)
			check("@bob:test", "m.room.message", false)
		})
	}
}
