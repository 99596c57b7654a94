package clientapi_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"testing"
	"time"

	"scop/clientapi/clientapitest"
	"scop/homeserver/accounts"
	"scop/homeserver/rooms"
	"scop/homeserver/storage/sqlite"
	"scop/homeserver/todevice"
	tdsqlite "scop/homeserver/todevice/sqlitestore"
)

// accountDevices adapts the accounts service to todevice.Devices.
type accountDevices struct{ acc *accounts.Service }

func (d accountDevices) DeviceIDs(ctx context.Context, userID string) ([]string, error) {
	ds, err := d.acc.Devices(ctx, userID)
	var ids []string
	for _, dev := range ds {
		ids = append(ids, dev.DeviceID)
	}
	return ids, err
}

// newToDeviceServer is newRoomsServer with the to-device inbox registered.
func newToDeviceServer(t testing.TB) *roomsServer {
	t.Helper()
	rs := &roomsServer{}
	rs.Server = clientapitest.NewServer(t, clientapitest.Options{
		ServerName: "test",
		MaxBody:    1 << 20,
		Setup: func(s *clientapitest.Server) error {
			ctx := context.Background()
			store, err := sqlite.NewRoomsStore(ctx, s.DB)
			if err != nil {
				return err
			}
			t.Cleanup(func() { store.Close() })
			_, key, _ := ed25519.GenerateKey(nil)
			svc, err := rooms.New(ctx, rooms.DefaultConfig(), rooms.Identity{ServerName: "test", KeyID: "ed25519:a", Key: key},
				store, store, store, s.Accounts, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			t.Cleanup(svc.Close)
			s.API.RegisterRooms(svc)
			rs.Rooms = svc
			tdStore, err := tdsqlite.New(ctx, s.DB)
			if err != nil {
				return err
			}
			s.API.RegisterToDevice(todevice.New(tdStore, accountDevices{s.Accounts}, func(u string) bool { return strings.HasSuffix(u, ":test") }), svc)
			return nil
		},
	})
	return rs
}

// toDeviceSync is the part of /sync these tests read.
type toDeviceSync struct {
	NextBatch string `json:"next_batch"`
	ToDevice  struct {
		Events []ev `json:"events"`
	} `json:"to_device"`
}

func (rs *roomsServer) syncToDevice(t *testing.T, u clientapitest.User, query string) toDeviceSync {
	t.Helper()
	var out toDeviceSync
	if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?"+query, u.Token, nil, &out); st != 200 {
		t.Fatalf("sync %s: status %d", query, st)
	}
	return out
}

func TestSendToDeviceBadInput(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	for i, tc := range []struct {
		name, body, code string
	}{
		{"not json", `{"messages":`, "M_NOT_JSON"},
		{"array", `[]`, "M_BAD_JSON"},
		{"no messages", `{}`, "M_BAD_JSON"},
		{"messages not object", `{"messages": 5}`, "M_BAD_JSON"},
		{"devices not object", `{"messages": {"@alice:test": []}}`, "M_BAD_JSON"},
		{"content not object", `{"messages": {"@alice:test": {"*": "hi"}}}`, "M_BAD_JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out obj
			st := rs.Do(t, "PUT", "/_matrix/client/v3/sendToDevice/m.test/bad"+string(rune('a'+i)), alice.Token, tc.body, &out)
			if st != 400 || out.str("errcode") != tc.code {
				t.Errorf("status %d %v, want 400 %s", st, out, tc.code)
			}
		})
	}
	if st := rs.Do(t, "PUT", "/_matrix/client/v3/sendToDevice/m.test/x", "", `{"messages":{}}`, nil); st != 401 {
		t.Errorf("without token: status %d", st)
	}
}

func TestSendToDeviceDelivery(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	alice2 := rs.AddUser2(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	a0 := rs.syncToDevice(t, alice, "")
	b0 := rs.syncToDevice(t, alice2, "")
	put := func(txn string, messages map[string]any) {
		t.Helper()
		rs.must(t, bob, "PUT", "/sendToDevice/m.room_key_request/"+txn, map[string]any{"messages": messages})
	}
	put("t1", map[string]any{
		alice.UserID:    map[string]any{alice.DeviceID: map[string]any{"n": 1}, "NOSUCHDEVICE": map[string]any{"n": 0}},
		"@nobody:test":  map[string]any{"*": map[string]any{"n": 0}},
		"@remote:other": map[string]any{"*": map[string]any{"n": 0}},
	})
	put("t1", map[string]any{alice.UserID: map[string]any{alice.DeviceID: map[string]any{"n": 1}}}) // retried: no duplicate
	put("t2", map[string]any{alice.UserID: map[string]any{"*": map[string]any{"n": 2}}})

	t.Run("one device and star", func(t *testing.T) {
		s := rs.syncToDevice(t, alice, "timeout=0&since="+a0.NextBatch)
		if n := len(s.ToDevice.Events); n != 2 {
			t.Fatalf("device 1 got %d events: %+v", n, s.ToDevice.Events)
		}
		e := s.ToDevice.Events[0]
		if e.Type != "m.room_key_request" || e.Sender != bob.UserID || e.Content["n"] != float64(1) || s.ToDevice.Events[1].Content["n"] != float64(2) {
			t.Errorf("events %+v", s.ToDevice.Events)
		}
		s2 := rs.syncToDevice(t, alice2, "timeout=0&since="+b0.NextBatch)
		if len(s2.ToDevice.Events) != 1 || s2.ToDevice.Events[0].Content["n"] != float64(2) {
			t.Errorf("device 2 got %+v", s2.ToDevice.Events)
		}
	})
	t.Run("redelivered until acknowledged", func(t *testing.T) {
		s := rs.syncToDevice(t, alice, "timeout=0&since="+a0.NextBatch)
		if len(s.ToDevice.Events) != 2 {
			t.Fatalf("repeat of unacknowledged token got %+v", s.ToDevice.Events)
		}
		ack := rs.syncToDevice(t, alice, "timeout=0&since="+s.NextBatch)
		if len(ack.ToDevice.Events) != 0 {
			t.Errorf("after ack got %+v", ack.ToDevice.Events)
		}
		again := rs.syncToDevice(t, alice, "timeout=0&since="+a0.NextBatch)
		if len(again.ToDevice.Events) != 0 {
			t.Errorf("acknowledged messages not deleted: %+v", again.ToDevice.Events)
		}
	})
	t.Run("old token format", func(t *testing.T) {
		tok, _, _ := strings.Cut(a0.NextBatch, "_d")
		if tok == a0.NextBatch {
			t.Fatalf("token %q has no to-device part", a0.NextBatch)
		}
		rs.syncToDevice(t, alice, "timeout=0&since="+tok)
		if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?since="+tok+"_dx", alice.Token, nil, nil); st != 400 {
			t.Errorf("bad to-device position: status %d", st)
		}
	})
}

func TestSendToDeviceWakesLongPoll(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	s := rs.syncToDevice(t, alice, "")
	done := make(chan toDeviceSync, 1)
	go func() { done <- rs.syncToDevice(t, alice, "timeout=20000&since="+s.NextBatch) }()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	rs.must(t, bob, "PUT", "/sendToDevice/m.test/w1", map[string]any{
		"messages": map[string]any{alice.UserID: map[string]any{alice.DeviceID: map[string]any{"hello": "there"}}}})
	select {
	case s2 := <-done:
		if len(s2.ToDevice.Events) != 1 || s2.ToDevice.Events[0].Content["hello"] != "there" {
			t.Errorf("woken sync got %+v", s2.ToDevice.Events)
		}
		if time.Since(start) > 10*time.Second {
			t.Error("long poll was not woken")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll not woken by a to-device message")
	}
}

func TestMessagesAcceptsSyncToken(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	roomID := rs.createRoom(t, alice, map[string]any{})
	s := rs.syncToDevice(t, alice, "")
	rs.must(t, alice, "GET", "/rooms/"+esc(roomID)+"/messages?dir=b&from="+s.NextBatch, nil)
}

func uploadDeviceKeys(t *testing.T, rs *roomsServer, u clientapitest.User) {
	t.Helper()
	rs.must(t, u, "POST", "/keys/upload", map[string]any{"device_keys": map[string]any{
		"user_id": u.UserID, "device_id": u.DeviceID, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys":       map[string]any{"ed25519:" + u.DeviceID: "a2V5", "curve25519:" + u.DeviceID: "Y3Vy"},
		"signatures": map[string]any{u.UserID: map[string]any{"ed25519:" + u.DeviceID: "c2ln"}}}})
}

type deviceListSync struct {
	NextBatch   string `json:"next_batch"`
	DeviceLists struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
}

func TestDeviceListsChanged(t *testing.T) {
	rs := newToDeviceServer(t)
	alice := rs.AddUser(t, "alice", "pw-alice-123")
	bob := rs.AddUser(t, "bob", "pw-bob-12345")
	carol := rs.AddUser(t, "carol", "pw-carol-1234")
	roomID := rs.createRoom(t, alice, map[string]any{"preset": "public_chat"})
	rs.must(t, bob, "POST", "/join/"+esc(roomID), nil)
	sync := func(since string) deviceListSync {
		t.Helper()
		var out deviceListSync
		if st := rs.Do(t, "GET", "/_matrix/client/v3/sync?timeout=0&since="+since, alice.Token, nil, &out); st != 200 {
			t.Fatalf("sync: status %d", st)
		}
		return out
	}
	var s0 deviceListSync
	rs.Do(t, "GET", "/_matrix/client/v3/sync", alice.Token, nil, &s0)

	t.Run("room mate's new device keys", func(t *testing.T) {
		bob2 := rs.AddUser2(t, "bob", "pw-bob-12345")
		uploadDeviceKeys(t, rs, bob2)
		uploadDeviceKeys(t, rs, carol) // shares no room with alice
		s := sync(s0.NextBatch)
		if len(s.DeviceLists.Changed) != 1 || s.DeviceLists.Changed[0] != bob.UserID {
			t.Errorf("changed %v, want [%s]", s.DeviceLists.Changed, bob.UserID)
		}
		var ch struct{ Changed []string }
		rs.Do(t, "GET", "/_matrix/client/v3/keys/changes?from="+s0.NextBatch+"&to="+s.NextBatch, alice.Token, nil, &ch)
		if len(ch.Changed) != 1 || ch.Changed[0] != bob.UserID {
			t.Errorf("/keys/changes %v", ch.Changed)
		}
		if s2 := sync(s.NextBatch); len(s2.DeviceLists.Changed) != 0 {
			t.Errorf("change repeated: %v", s2.DeviceLists.Changed)
		}
		// One-time keys alone change no device list.
		rs.must(t, bob2, "POST", "/keys/upload", map[string]any{"one_time_keys": map[string]any{"curve25519:AAAA": "a2V5"}})
		if s3 := sync(s.NextBatch); len(s3.DeviceLists.Changed) != 0 {
			t.Errorf("one-time key upload listed: %v", s3.DeviceLists.Changed)
		}
	})
	t.Run("wakes long poll", func(t *testing.T) {
		s := sync(s0.NextBatch)
		done := make(chan deviceListSync, 1)
		go func() {
			var out deviceListSync
			rs.Do(t, "GET", "/_matrix/client/v3/sync?timeout=20000&since="+s.NextBatch, alice.Token, nil, &out)
			done <- out
		}()
		time.Sleep(30 * time.Millisecond)
		uploadDeviceKeys(t, rs, carol) // irrelevant: the poll parks again
		uploadDeviceKeys(t, rs, bob)
		select {
		case got := <-done:
			if len(got.DeviceLists.Changed) != 1 || got.DeviceLists.Changed[0] != bob.UserID {
				t.Errorf("woken sync changed %v", got.DeviceLists.Changed)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("long poll not woken by a room mate's key upload")
		}
	})
	t.Run("join and leave", func(t *testing.T) {
		s := sync(s0.NextBatch)
		rs.must(t, carol, "POST", "/join/"+esc(roomID), nil)
		s2 := sync(s.NextBatch)
		if len(s2.DeviceLists.Changed) != 1 || s2.DeviceLists.Changed[0] != carol.UserID {
			t.Errorf("after carol joined: changed %v", s2.DeviceLists.Changed)
		}
		rs.must(t, bob, "POST", "/rooms/"+esc(roomID)+"/leave", map[string]any{})
		s3 := sync(s2.NextBatch)
		if len(s3.DeviceLists.Left) != 1 || s3.DeviceLists.Left[0] != bob.UserID {
			t.Errorf("after bob left: left %v", s3.DeviceLists.Left)
		}
	})
	t.Run("missing from", func(t *testing.T) {
		var out obj
		if st := rs.Do(t, "GET", "/_matrix/client/v3/keys/changes?to="+s0.NextBatch, alice.Token, nil, &out); st != 400 || out.str("errcode") != "M_MISSING_PARAM" {
			t.Errorf("status %d %v", st, out)
		}
	})
}
