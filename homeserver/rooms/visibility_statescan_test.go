package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"scop/homeserver"
)

// TestVisIndexFromStateChanges: the index a restarted server builds from
// the stored state events (in several small reads) equals the one built
// from the events as they were committed.
func TestVisIndexFromStateChanges(t *testing.T) {
	defer func(b int) { visIndexBatch = b }(visIndexBatch)
	ctx := context.Background()
	store := openTestStore(t)
	_, key, _ := ed25519.GenerateKey(nil)
	start := func(recent int) *Service {
		cfg := DefaultConfig()
		cfg.RecentEvents = recent
		svc, err := New(ctx, cfg, Identity{ServerName: "test", KeyID: "ed25519:k", Key: key}, store, store, store,
			testProfiles{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	alice := homeserver.Device{UserID: "@alice:test", DeviceID: "A"}
	svc := start(10000)
	roomID, err := svc.CreateRoom(ctx, alice, CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	hv := []string{"joined", "invited", "shared", "world_readable"}
	for i := range 40 {
		u := homeserver.Device{UserID: fmt.Sprintf("@u%d:test", i%6), DeviceID: "D"}
		switch i % 4 {
		case 0:
			_, err = svc.Join(ctx, u, roomID, "")
		case 1:
			err = svc.Leave(ctx, homeserver.Device{UserID: fmt.Sprintf("@u%d:test", (i-1)%6), DeviceID: "D"}, roomID, "")
		case 2:
			_, err = svc.SetState(ctx, alice, roomID, "m.room.history_visibility", "",
				json.RawMessage(fmt.Sprintf(`{"history_visibility":%q}`, hv[i/4%4])))
		default:
			_, err = svc.Send(ctx, alice, roomID, "m.room.message", fmt.Sprint("t", i), json.RawMessage(`{"msgtype":"m.text","body":"hi"}`))
		}
		if err != nil {
			t.Fatal(i, err)
		}
	}
	snapshot := func(svc *Service) ([]change, map[string][]change) {
		r, err := svc.room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := svc.visIndexOf(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return ix.hv, ix.members
	}
	liveHV, liveMembers := snapshot(svc)
	svc.Close()
	visIndexBatch = 3
	svc = start(4) // the index of the reloaded room comes from the database
	defer svc.Close()
	hvs, members := snapshot(svc)
	if len(liveHV) < 10 || len(liveMembers) < 4 {
		t.Fatalf("too few changes to compare: %v %v", liveHV, liveMembers)
	}
	if !reflect.DeepEqual(hvs, liveHV) || !reflect.DeepEqual(members, liveMembers) {
		t.Errorf("index from storage\n%v\n%v\nwant\n%v\n%v", hvs, members, liveHV, liveMembers)
	}
}
