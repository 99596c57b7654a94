package clientapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"crypto/ed25519"

	"scop/clientapi/clientapitest"
	"scop/homeserver/rooms"
	"scop/homeserver/storage/sqlite"
)

// roomsServer is a real API with accounts and rooms on SQLite.
type roomsServer struct {
	*clientapitest.Server
	Rooms *rooms.Service
}

func newRoomsServer(t *testing.T, opts ...func(*rooms.Config)) *roomsServer {
	t.Helper()
	return newRoomsServerTB(t, opts...)
}

func newRoomsServerTB(t testing.TB, opts ...func(*rooms.Config)) *roomsServer {
	t.Helper()
	rs := &roomsServer{}
	cfg := rooms.DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	rs.Server = clientapitest.NewServer(t, clientapitest.Options{
		ServerName: "test",
		MaxBody:    1 << 20,
		Setup: func(s *clientapitest.Server) error {
			store, err := sqlite.NewRoomsStore(context.Background(), s.DB)
			if err != nil {
				return err
			}
			t.Cleanup(func() { store.Close() })
			_, key, _ := ed25519.GenerateKey(nil)
			svc, err := rooms.New(context.Background(), cfg, rooms.Identity{ServerName: "test", KeyID: "ed25519:a", Key: key},
				store, store, store, s.Accounts, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			t.Cleanup(svc.Close)
			s.API.RegisterRooms(svc)
			rs.Rooms = svc
			return nil
		},
	})
	return rs
}

// obj is a decoded JSON object answer.
type obj map[string]any

func (o obj) str(k string) string { s, _ := o[k].(string); return s }

// call sends a request and returns status and decoded body.
func (rs *roomsServer) call(t *testing.T, u clientapitest.User, method, path string, body any) (int, obj) {
	t.Helper()
	var out obj
	st := rs.Do(t, method, "/_matrix/client/v3"+path, u.Token, body, &out)
	return st, out
}

// must is call that fails the test on a non-200 answer.
func (rs *roomsServer) must(t *testing.T, u clientapitest.User, method, path string, body any) obj {
	t.Helper()
	st, out := rs.call(t, u, method, path, body)
	if st != 200 {
		t.Fatalf("%s %s: status %d %v", method, path, st, out)
	}
	return out
}

func (rs *roomsServer) createRoom(t *testing.T, u clientapitest.User, body any) string {
	t.Helper()
	id := rs.must(t, u, "POST", "/createRoom", body).str("room_id")
	if id == "" {
		t.Fatal("no room_id")
	}
	return id
}

var txnSeq int

func (rs *roomsServer) send(t *testing.T, u clientapitest.User, roomID, body string) string {
	t.Helper()
	txnSeq++
	return rs.must(t, u, "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/t%d", esc(roomID), txnSeq),
		map[string]any{"msgtype": "m.text", "body": body}).str("event_id")
}

func esc(s string) string { return url.PathEscape(s) }

// syncResp is the part of a /sync answer the tests read.
type syncResp struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			State    struct{ Events []ev } `json:"state"`
			Timeline struct {
				Events    []ev   `json:"events"`
				Limited   bool   `json:"limited"`
				PrevBatch string `json:"prev_batch"`
			} `json:"timeline"`
			Ephemeral   struct{ Events []ev } `json:"ephemeral"`
			AccountData struct{ Events []ev } `json:"account_data"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct{ Events []ev } `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]struct {
			Timeline struct{ Events []ev } `json:"timeline"`
		} `json:"leave"`
	} `json:"rooms"`
	AccountData struct{ Events []ev } `json:"account_data"`
}

type ev struct {
	Type     string         `json:"type"`
	EventID  string         `json:"event_id"`
	Sender   string         `json:"sender"`
	StateKey *string        `json:"state_key"`
	Content  map[string]any `json:"content"`
	Unsigned map[string]any `json:"unsigned"`
}

func (rs *roomsServer) sync(t *testing.T, u clientapitest.User, query string) syncResp {
	t.Helper()
	var out syncResp
	if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?"+query, u.Token, nil, &out); st != 200 {
		t.Fatalf("sync %s: status %d", query, st)
	}
	return out
}

func findEvent(evs []ev, typ string) *ev {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

func TestCreateRoomSendAndSync(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{"name": "Lobby", "topic": "Hello", "preset": "public_chat"})
	if strings.Contains(roomID, ":") {
		t.Errorf("v12 room ID %q should have no domain", roomID)
	}
	evID := rs.send(t, alice, roomID, "hi")

	s := rs.sync(t, alice, "")
	room, ok := s.Rooms.Join[roomID]
	if !ok {
		t.Fatalf("room missing from initial sync: %+v", s.Rooms)
	}
	all := append(append([]ev{}, room.State.Events...), room.Timeline.Events...)
	for _, typ := range []string{"m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.name", "m.room.topic"} {
		if findEvent(all, typ) == nil {
			t.Errorf("initial sync lacks %s", typ)
		}
	}
	last := room.Timeline.Events[len(room.Timeline.Events)-1]
	if last.EventID != evID || last.Content["body"] != "hi" {
		t.Errorf("last timeline event %+v, want %s", last, evID)
	}
	if last.Unsigned["transaction_id"] == nil {
		t.Errorf("sender's device should see transaction_id: %+v", last.Unsigned)
	}

	// Nothing new: an incremental sync with timeout 0 is empty.
	s2 := rs.sync(t, alice, "timeout=0&since="+s.NextBatch)
	if len(s2.Rooms.Join) != 0 {
		t.Errorf("incremental sync not empty: %+v", s2.Rooms.Join)
	}

	// A long poll wakes as soon as an event commits.
	done := make(chan syncResp, 1)
	go func() { done <- rs.sync(t, alice, "timeout=20000&since="+s2.NextBatch) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	ev2 := rs.send(t, alice, roomID, "second")
	select {
	case s3 := <-done:
		tl := s3.Rooms.Join[roomID].Timeline.Events
		if len(tl) != 1 || tl[0].EventID != ev2 {
			t.Fatalf("long poll got %+v, want only %s", tl, ev2)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("long poll took %v", time.Since(start))
		}
		// And the next token does not repeat it.
		s4 := rs.sync(t, alice, "timeout=0&since="+s3.NextBatch)
		if len(s4.Rooms.Join) != 0 {
			t.Errorf("event repeated: %+v", s4.Rooms.Join)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not wake")
	}
}

func TestCreateRoomVersions(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	for _, v := range []string{"10", "11", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			id := rs.createRoom(t, alice, map[string]any{"room_version": v, "invite": []string{}})
			if hasDomain := strings.HasSuffix(id, ":test"); hasDomain != (v != "12") {
				t.Errorf("room ID %q for version %s", id, v)
			}
			c := rs.must(t, alice, "GET", "/rooms/"+esc(id)+"/state/m.room.create", nil)
			if c.str("room_version") != v {
				t.Errorf("create content %v", c)
			}
			rs.send(t, alice, id, "hello "+v)
		})
	}
	st, out := rs.call(t, alice, "POST", "/createRoom", map[string]any{"room_version": "9"})
	if st != 400 || out.str("errcode") != "M_UNSUPPORTED_ROOM_VERSION" {
		t.Errorf("version 9: %d %v", st, out)
	}
}

func TestSendIdempotentPerTxn(t *testing.T) {
	rs := newRoomsServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{})
	path := "/rooms/" + esc(roomID) + "/send/m.room.message/same"
	a := rs.must(t, alice, "PUT", path, map[string]any{"body": "1"}).str("event_id")
	b := rs.must(t, alice, "PUT", path, map[string]any{"body": "1"}).str("event_id")
	if a == "" || a != b {
		t.Errorf("same txn gave %q and %q", a, b)
	}
	// Another device of the same user gets its own event.
	alice2 := rs.AddUser2(t, "alice", "pw-alice-123")
	c := rs.must(t, alice2, "PUT", path, map[string]any{"body": "1"}).str("event_id")
	if c == a {
		t.Error("another device reused the event")
	}
	var msgs int
	for _, e := range rs.sync(t, alice, "").Rooms.Join[roomID].Timeline.Events {
		if e.Type == "m.room.message" {
			msgs++
		}
	}
	if msgs != 2 {
		t.Errorf("%d messages in the room, want 2", msgs)
	}
}
