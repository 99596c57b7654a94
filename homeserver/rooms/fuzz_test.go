package rooms

import (
	"encoding/json"
	"testing"
)

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"room":{"timeline":{"limit":10,"types":["m.room.*"]}}}`,
		`{"room":{"state":{"lazy_load_members":true},"include_leave":true}}`,
		`{"event_format":"client","presence":{"not_types":["*"]}}`,
		`{"room":{"timeline":{"limit":-1}}}`, `[1]`, `{"room":[]}`, `nope`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := ParseFilter(data)
		if err != nil {
			return
		}
		// A valid filter survives a round trip and can be applied.
		again, err := json.Marshal(flt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFilter(again); err != nil {
			t.Fatalf("round trip of %s: %v", again, err)
		}
		if flt.Room != nil {
			flt.Room.Timeline.limit(10, 100)
			flt.Room.Timeline.restricts()
			flt.Room.State.allowsRoom("!a:b")
		}
		flt.AccountData.allows("m.direct", "@a:b")
	})
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"s0", "s12", "s12_3", "s-1", "x", "", "s_", "s9999999999999999999999", "s1_2_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		pos, typ, err := parseToken(tok)
		if err != nil {
			return
		}
		if pos < 0 || typ < 0 {
			t.Fatalf("negative position from %q", tok)
		}
		if p2, _, err := parseToken(formatToken(pos)); err != nil || p2 != pos {
			t.Fatalf("round trip of %d: %d %v", pos, p2, err)
		}
	})
}

func FuzzMatchType(f *testing.F) {
	for _, s := range [][2]string{{"m.*", "m.room.message"}, {"*", ""}, {"a*b*c", "abc"}, {"**", "x"}, {"m.room.name", "m.room.name"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		got := matchType(pattern, typ)
		if pattern == typ && !got {
			t.Fatalf("%q does not match itself", pattern)
		}
		if pattern == "*" && !got {
			t.Fatalf("* does not match %q", typ)
		}
	})
}

func FuzzCreateRoomRequest(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"preset":"public_chat","room_alias_name":"lobby","name":"x"}`,
		`{"invite":["@a:b"],"initial_state":[{"type":"m.room.name","content":{"name":"n"}}]}`,
		`{"visibility":"public","room_version":"12","creation_content":{"m.federate":false}}`,
		`{"room_alias_name":"a:b"}`, `{"initial_state":[{"type":"","content":1}]}`, `{"invite":["nope"]}`,
	} {
		f.Add([]byte(s))
	}
	s := &Service{id: Identity{ServerName: "test"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req CreateRoomRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		alias, err := req.validate("test")
		if err != nil {
			return
		}
		if alias != "" {
			if err := s.checkAlias(alias); err != nil {
				t.Fatalf("validated alias %q fails checkAlias: %v", alias, err)
			}
		}
		for _, st := range req.InitialState {
			if !isObject(st.Content) {
				t.Fatalf("initial_state content %s accepted", st.Content)
			}
		}
	})
}
