package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestRoomsSurviveRestart creates a room and a message through a running
// app, closes it (flushing the committer), reopens the data folder and
// finds both through /sync.
func TestRoomsSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.ClientAPI.RateLimits.Enabled = false
	if _, err := AddUser(t.Context(), cfg, "alice", "pw-alice-123", false); err != nil {
		t.Fatal(err)
	}
	start := func() (*App, string) {
		a, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return a, "http://" + a.Addrs().Client + "/_matrix/client/v3"
	}
	call := func(method, url, token string, body any) map[string]any {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, url, bytes.NewReader(data))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
		}
		return out
	}
	a, base := start()
	login := call("POST", base+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw-alice-123"})
	tok := login["access_token"].(string)
	room := call("POST", base+"/createRoom", tok, map[string]any{"name": "durable"})["room_id"].(string)
	ev := call("PUT", base+"/rooms/"+room+"/send/m.room.message/t1", tok, map[string]any{"body": "kept"})["event_id"].(string)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	a, base = start()
	defer a.Close(context.Background())
	req, _ := http.NewRequest("GET", base+"/sync", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), ev) || !strings.Contains(string(body), "durable") {
		t.Fatalf("sync after restart: %d %s", resp.StatusCode, body)
	}
	// The same transaction ID still maps to the stored event.
	again := call("PUT", base+"/rooms/"+room+"/send/m.room.message/t1", tok, map[string]any{"body": "kept"})["event_id"].(string)
	if again != ev {
		t.Errorf("txn after restart gave %s, want %s", again, ev)
	}
}
