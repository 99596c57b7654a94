package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scop/homeserver"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAPI.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Accounts.BcryptCost = 4
	return cfg
}

func TestAppStartClose(t *testing.T) {
	cfg := testConfig(t)
	os.WriteFile(filepath.Join(cfg.DataDir, "bridge.yaml"), []byte(`id: bridge
as_token: as_0123456789abcdef
hs_token: hs_0123456789abcdef
sender_localpart: bridgebot
namespaces: {users: [{exclusive: true, regex: '@br_.*:localhost'}]}
`), 0o600)
	cfg.AppServices = []string{"bridge.yaml"}
	a, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(a.AppServices) != 1 || a.Rooms == nil {
		t.Fatalf("app services %d, rooms %v", len(a.AppServices), a.Rooms)
	}
	addrs := a.Addrs()
	req, _ := http.NewRequest("GET", "http://"+addrs.Client+"/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer as_0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "@bridgebot:localhost") {
		t.Fatalf("bot whoami: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, ListenFile)); err != nil {
		t.Fatalf("listen.json: %v", err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAppBadRegistration(t *testing.T) {
	cfg := testConfig(t)
	os.WriteFile(filepath.Join(cfg.DataDir, "bad.yaml"), []byte("id: x\nas_token: short\n"), 0o600)
	cfg.AppServices = []string{"missing.yaml"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(t.Context(), cfg, log); err == nil || !strings.Contains(err.Error(), "app_services[0]") {
		t.Fatalf("missing file: %v", err)
	}
	cfg.AppServices = []string{"bad.yaml"}
	if _, err := New(t.Context(), cfg, log); err == nil || !strings.Contains(err.Error(), "as_token") {
		t.Fatalf("bad file: %v", err)
	}
}

// Deactivating an account makes it leave its rooms.
func TestDeactivateLeavesRooms(t *testing.T) {
	cfg := testConfig(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := AddUser(t.Context(), cfg, "alice", "pw", false); err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addrs().Client + "/_matrix/client/v3"
	do := func(method, path, token string, body any) map[string]any {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(data))
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
		out["_status"] = resp.StatusCode
		return out
	}
	login := do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw"})
	tok, _ := login["access_token"].(string)
	room := do("POST", "/createRoom", tok, map[string]any{})
	if room["_status"] != 200 {
		t.Fatalf("createRoom: %v", room)
	}
	if r := do("POST", "/account/deactivate", tok, map[string]any{"auth": map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "pw"}}); r["_status"] != 200 {
		t.Fatalf("deactivate: %v", r)
	}
	m, ok := a.Rooms.(roomMember)
	if !ok {
		t.Fatal("rooms service cannot list joined rooms: deactivation would not leave rooms")
	}
	if rooms := m.JoinedRooms(t.Context(), homeserver.Device{UserID: "@alice:localhost"}); len(rooms) != 0 {
		t.Fatalf("still joined to %v", rooms)
	}
}
