package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"scop/homeserver/rooms"
)

// visRoom is a public room with some history under changing visibility.
type visRoom struct {
	id                  string
	early, hidden, late string // shared era, joined era before bob, after bob joined
}

func hv(v string) json.RawMessage { return json.RawMessage(`{"history_visibility":"` + v + `"}`) }

func buildVisRoom(t testing.TB, svc *rooms.Service, filler int) visRoom {
	t.Helper()
	ctx := context.Background()
	alice, bob := dev("@alice:test"), dev("@bob:test")
	must := func(id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var r visRoom
	r.id = must(svc.CreateRoom(ctx, alice, rooms.CreateRoomRequest{Preset: "public_chat"}))
	r.early = must(svc.Send(ctx, alice, r.id, "m.room.message", "e", msg("early")))
	must(svc.SetState(ctx, alice, r.id, "m.room.history_visibility", "", hv("joined")))
	r.hidden = must(svc.Send(ctx, alice, r.id, "m.room.message", "h", msg("hidden")))
	for i := range filler {
		must(svc.Send(ctx, alice, r.id, "m.room.message", fmt.Sprint("f", i), msg("filler")))
	}
	must(svc.Join(ctx, bob, r.id, ""))
	r.late = must(svc.Send(ctx, alice, r.id, "m.room.message", "l", msg("late")))
	return r
}

func chunkIDs(t testing.TB, chunk []json.RawMessage) string {
	t.Helper()
	var ids []string
	for _, raw := range chunk {
		var e struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.EventID)
	}
	return strings.Join(ids, " ")
}

// TestVisibilityAfterRestart reads history whose visibility changed, once
// from the in-memory recent events and once, after a restart with a tiny
// cache, from the database.
func TestVisibilityAfterRestart(t *testing.T) {
	ctx := context.Background()
	cfg := rooms.DefaultConfig()
	cfg.RecentEvents = 2
	e := newEnv(t, cfg)
	r := buildVisRoom(t, e.svc, 5)
	bob := dev("@bob:test")
	for _, phase := range []string{"live", "restarted"} {
		if phase == "restarted" {
			e.restart(t)
		}
		t.Run(phase, func(t *testing.T) {
			resp, err := e.svc.Messages(ctx, bob, r.id, rooms.MessagesRequest{Dir: "b", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			got := chunkIDs(t, resp.Chunk)
			if !strings.Contains(got, r.early) || strings.Contains(got, r.hidden) || !strings.Contains(got, r.late) {
				t.Errorf("/messages: early %v hidden %v late %v", strings.Contains(got, r.early), strings.Contains(got, r.hidden), strings.Contains(got, r.late))
			}
			if resp.End != "" {
				t.Errorf("end %q: the whole visible history fitted", resp.End)
			}
			if _, err := e.svc.Event(ctx, bob, r.id, r.hidden); err == nil {
				t.Error("/event shows a joined-era event from before the join")
			}
			s, err := e.svc.Sync(ctx, bob, rooms.SyncRequest{Filter: `{"room":{"timeline":{"limit":50}}}`})
			if err != nil {
				t.Fatal(err)
			}
			tl := chunkIDs(t, s.Rooms.Join[r.id].Timeline.Events)
			if !strings.Contains(tl, r.early) || strings.Contains(tl, r.hidden) || !strings.Contains(tl, r.late) {
				t.Errorf("sync timeline: early %v hidden %v late %v", strings.Contains(tl, r.early), strings.Contains(tl, r.hidden), strings.Contains(tl, r.late))
			}
		})
	}
}

// BenchmarkMessagesJoinedVisibility pages back through a room whose
// visibility is joined, from a member who joined after 2000 events: the
// visible spans let the scan skip the hidden history.
func BenchmarkMessagesJoinedVisibility(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, rooms.DefaultConfig())
	r := buildVisRoom(b, e.svc, 2000)
	bob := dev("@bob:test")
	b.ResetTimer()
	for b.Loop() {
		resp, err := e.svc.Messages(ctx, bob, r.id, rooms.MessagesRequest{Dir: "b", Limit: 20})
		if err != nil || len(resp.Chunk) == 0 {
			b.Fatal(err)
		}
	}
}
