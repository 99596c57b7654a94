package rooms

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"scop/homeserver"
)

// FuzzParseSlidingRequest: any body is a request or a client error
// (M_NOT_JSON, M_BAD_JSON, M_INVALID_PARAM), never a panic; an accepted
// request survives a JSON round trip unchanged and within the bounds.
func FuzzParseSlidingRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[1]`, `nope`, `{"lists":`,
		`{"conn_id":"room-list","lists":{"all":{"ranges":[[0,19]],"timeline_limit":1,
			"required_state":[["m.room.name",""],["m.room.member","$LAZY"],["m.room.member","$ME"],["*","*"]],
			"filters":{"is_dm":true,"is_invite":false,"is_encrypted":true,"room_types":[null,"m.space"],"not_room_types":["m.space"]}}},
			"room_subscriptions":{"!a:b":{"required_state":[["*","*"]],"timeline_limit":20}},
			"extensions":{"to_device":{"enabled":true,"since":"12","limit":5},"e2ee":{"enabled":true},
			"account_data":{"enabled":true,"lists":["all"],"rooms":["*"]},"receipts":{"enabled":true},"typing":{"enabled":false}}}`,
		`{"lists":{"a":{"ranges":[[5,1]]}}}`, `{"lists":{"a":{"ranges":[[-1,3]]}}}`, `{"lists":{"a":{"ranges":[[0]]}}}`,
		`{"lists":{"a":{"ranges":[[0,1e30]]}}}`, `{"lists":{"a":{"ranges":[[0,9223372036854775807]]}}}`,
		`{"lists":{"a":{"required_state":[["a","b","c"]]}}}`, `{"lists":{"a":{"timeline_limit":-4}}}`,
		`{"room_subscriptions":{"x":{}}}`, `{"extensions":{"to_device":{"since":"abc"}}}`,
		`{"lists":{"":{}}}`, `{"pos":"a_1","timeout":5,"lists":{"a":{"range":[0,3],"filters":{"is_invited":true,"tags":["x"],"not_tags":["y"]}}}}`,
		`{"lists":{"a":{"range":[1]}}}`, `{"lists":{"a":{"required_state":{"include":[{}],"exclude":[{"type":"m.room.create","state_key":""}],"lazy_members":true}}}}`,
		`{"lists":{"a":{"required_state":{"include":[{"state_key":"$ME"}]}}}}`, `{"lists":{"a":{"required_state":{"include":"x"}}}}`, `{"unsubscribe_rooms":["!a:b"]}`, `{"lists":{"a":{"filters":{"is_dm":"yes"}}}}`, `{"lists":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseSlidingRequest(data)
		if err != nil {
			var he *homeserver.Error
			if !errors.As(err, &he) {
				t.Fatalf("not a client error: %v", err)
			}
			switch he.Code {
			case homeserver.ErrNotJSON, homeserver.ErrBadJSON, homeserver.ErrInvalidParam:
			default:
				t.Fatalf("unexpected errcode %s", he.Code)
			}
			return
		}
		for _, l := range req.Lists {
			for _, r := range l.Ranges {
				if len(r) != 2 || r[0] < 0 || r[0] > r[1] {
					t.Fatalf("accepted range %v", r)
				}
			}
			var sp stateSpec
			sp.merge(l.SlidingRoomConfig, "@me:test")
			_ = sp.matches("m.room.member", "@me:test")
			_ = sp.key()
			if n := l.timelineLimit(); n < 0 || n > maxSlidingTimelineLimit {
				t.Fatalf("timeline limit %d", n)
			}
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := ParseSlidingRequest(again)
		if err != nil {
			t.Fatalf("round trip rejected: %v (%s)", err, again)
		}
		if !reflect.DeepEqual(req, req2) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", req, req2)
		}
	})
}

// TestSlidingConnsBounds: a device holds a bounded number of connections
// and snapshots, an idle one expires, and each gone pos is M_UNKNOWN_POS.
func TestSlidingConnsBounds(t *testing.T) {
	d := homeserver.Device{UserID: "@a:test", DeviceID: "D"}
	now := time.Unix(1000, 0)
	c := NewSlidingConns()
	c.now = func() time.Time { return now }
	isUnknown := func(err error) bool {
		var he *homeserver.Error
		return errors.As(err, &he) && he.Code == homeserver.ErrUnknownPos
	}
	first := c.store(d, "conn0", nil, &slidingSnap{})
	for i := 1; i <= maxConnsPerDevice; i++ {
		now = now.Add(time.Second)
		c.store(d, "conn"+string(rune('0'+i)), nil, &slidingSnap{})
	}
	if _, err := c.lookup(d, "conn0", first); !isUnknown(err) {
		t.Errorf("least recently used connection kept: %v", err)
	}
	pos := c.store(d, "x", nil, &slidingSnap{})
	// A client that keeps cancelling and asking again from one pos.
	base, _ := c.lookup(d, "x", pos)
	var newest string
	for range 3 * maxSnapsPerConn {
		if _, err := c.lookup(d, "x", pos); err != nil {
			t.Fatalf("repeated pos lost: %v", err)
		}
		newest = c.store(d, "x", base, &slidingSnap{})
	}
	if n := len(c.byDevice[deviceKey(d)]["x"].snaps); n > maxSnapsPerConn {
		t.Errorf("%d snapshots kept", n)
	}
	// Moving on drops what came before.
	snap, err := c.lookup(d, "x", newest)
	if err != nil {
		t.Fatalf("newest snapshot lost: %v", err)
	}
	if _, err := c.lookup(d, "x", pos); !isUnknown(err) {
		t.Errorf("snapshot before the one used kept: %v", err)
	}
	pos = c.store(d, "x", snap, &slidingSnap{})
	now = now.Add(connIdle + 2*time.Minute)
	if _, err := c.lookup(d, "x", pos); !isUnknown(err) {
		t.Errorf("idle connection kept: %v", err)
	}
}

func TestStateGrew(t *testing.T) {
	key := func(entries ...[]string) string {
		var sp stateSpec
		sp.merge(SlidingRoomConfig{RequiredState: RequiredState{Include: entries}}, "@me:test")
		return sp.key()
	}
	name, topic := []string{"m.room.name", ""}, []string{"m.room.topic", ""}
	cases := []struct {
		name     string
		old, new string
		want     bool
	}{
		{"same", key(name, topic), key(topic, name), false},
		{"narrower", key(name, topic), key(name), false},
		{"wider", key(name), key(name, topic), true},
		{"from nothing", key(), key(name), true},
		{"to nothing", key(name), key(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := stateGrew(tc.old, tc.new); got != tc.want {
				t.Errorf("stateGrew = %v, want %v", got, tc.want)
			}
		})
	}
}
