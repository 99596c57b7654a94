package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"scop/homeserver"
)

// TestSearchPagesAndCount: pages of /search, followed by next_batch,
// return every match exactly once, newest first, across rooms and while
// new events arrive; count is exact below the cap and the cap above it.
func TestSearchPagesAndCount(t *testing.T) {
	defer func(c int) { searchCountCap = c }(searchCountCap)
	ctx := context.Background()
	store := openTestStore(t)
	_, key, _ := ed25519.GenerateKey(nil)
	cfg := DefaultConfig()
	cfg.RecentEvents = 8 // most reads come from the database
	svc, err := New(ctx, cfg, Identity{ServerName: "test", KeyID: "ed25519:k", Key: key}, store, store, store,
		testProfiles{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	alice := homeserver.Device{UserID: "@alice:test", DeviceID: "A"}
	var roomIDs []string
	for range 3 {
		id, err := svc.CreateRoom(ctx, alice, CreateRoomRequest{Preset: "private_chat"})
		if err != nil {
			t.Fatal(err)
		}
		roomIDs = append(roomIDs, id)
	}
	send := func(i int, body string) string {
		id, err := svc.Send(ctx, alice, roomIDs[i%3], "m.room.message", fmt.Sprint("t", i),
			json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body)))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var matches []string // newest first
	for i := range 40 {
		body := "noise"
		if i%3 != 1 || i%2 == 0 { // uneven spread over the rooms
			body = fmt.Sprintf("Needle %d", i)
		}
		id := send(i, body)
		if body != "noise" {
			matches = append([]string{id}, matches...)
		}
	}
	limit := 4
	search := func(next string) *SearchResponse {
		t.Helper()
		resp, err := svc.SearchRoomEvents(ctx, alice, SearchRequest{SearchTerm: "needle", NextBatch: next,
			Filter: &RoomEventFilter{EventFilter: EventFilter{Limit: &limit}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	t.Run("pages", func(t *testing.T) {
		var got []string
		next := ""
		for page := 0; ; page++ {
			resp := search(next)
			if page == 0 && resp.Count != len(matches) {
				t.Errorf("count %d, want %d", resp.Count, len(matches))
			}
			if page == 1 {
				send(100, "needle arriving late") // newer than every page: not in them
			}
			for _, r := range resp.Results {
				var ev struct {
					EventID string `json:"event_id"`
				}
				if err := json.Unmarshal(r.Result, &ev); err != nil {
					t.Fatal(err)
				}
				got = append(got, ev.EventID)
			}
			if resp.NextBatch == "" {
				break
			}
			if len(resp.Results) != limit || page > len(matches) {
				t.Fatalf("page %d: %d results, next %q", page, len(resp.Results), resp.NextBatch)
			}
			next = resp.NextBatch
		}
		if fmt.Sprint(got) != fmt.Sprint(matches) {
			t.Errorf("paged results\n%v\nwant\n%v", got, matches)
		}
	})
	t.Run("count cap", func(t *testing.T) {
		searchCountCap = 10
		resp := search("")
		if resp.Count != 10 || len(resp.Results) != limit || resp.NextBatch == "" {
			t.Errorf("count %d, %d results, next %q; want 10, %d, a next page", resp.Count, len(resp.Results), resp.NextBatch, limit)
		}
	})
	t.Run("negative limit", func(t *testing.T) {
		neg := -5
		resp, err := svc.SearchRoomEvents(ctx, alice, SearchRequest{SearchTerm: "needle",
			Filter: &RoomEventFilter{EventFilter: EventFilter{Limit: &neg}}})
		if err != nil || len(resp.Results) != 10 {
			t.Errorf("%v, %d results, want the default 10", err, len(resp.Results))
		}
	})
	t.Run("bad tokens", func(t *testing.T) {
		for _, tok := range []string{"p", "p0", "p-3", "px", "t-1", fmt.Sprint("t", searchMaxSkip+1), "q1"} {
			if _, err := svc.SearchRoomEvents(ctx, alice, SearchRequest{SearchTerm: "needle", NextBatch: tok}); err == nil {
				t.Errorf("next_batch %q accepted", tok)
			}
		}
	})
}
