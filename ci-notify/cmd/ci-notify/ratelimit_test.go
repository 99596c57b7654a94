package main

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"scop/ci-notify/webhook"
)

// syncWriter is a goroutine-safe log buffer.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRateLimitedHomeserver runs against a second scop with a tight send
// limit: ci-notify must wait as told by 429 answers (retry_after_ms) and
// still post every pipeline exactly once.
func TestRateLimitedHomeserver(t *testing.T) {
	needHomeserver(t)
	srv, err := startScop(filepath.Join(t.TempDir(), "data"), `server_name: localhost
client_api:
  registration:
    enabled: true
  rate_limits:
    enabled: true
    login: {per_second: 100, burst: 100}
    register: {per_second: 100, burst: 100}
    send: {per_second: 4, burst: 2}
`)
	if err != nil {
		t.Fatalf("second scop: %v", err)
	}
	t.Cleanup(srv.stop)
	bot, pass := newUserOn(t, srv, "cibot")
	alice, _ := newUserOn(t, srv, "alice")
	const secret = "rl"
	e := env{"CI_NOTIFY_HOMESERVER": srv.url, "CI_NOTIFY_USER": bot.UserID.String(), "CI_NOTIFY_PASSWORD": pass,
		"CI_NOTIFY_STATE": t.TempDir()}
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\nwebhooks: {generic_secret: %q}\n", alice.UserID, secret))
	logs := &syncWriter{t: t}
	ready := make(chan string, 1)
	m := &Main{Getenv: e.get, Stdout: logs, Stderr: logs, Ready: func(a string) { ready <- a }}
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"}) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + <-ready
	sy := newSyncer(t, alice)
	const pipelines = 8
	for i := range pipelines {
		b := fmt.Appendf(nil, `{"repo":"rl/app","pipeline":"%d","pipeline_name":"RL%d","status":"success"}`, i, i)
		req, _ := http.NewRequest("POST", url+"/hooks/generic", bytes.NewReader(b))
		req.Header.Set("X-Signature-256", webhook.SignHMACSHA256([]byte(secret), b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook %d answered %d", i, resp.StatusCode)
		}
	}
	for i := range pipelines {
		sy.wait(t, 60*time.Second, fmt.Sprintf("pipeline RL%d", i), func(ev *event.Event) bool {
			return ev.Sender == bot.UserID && strings.Contains(body(ev), fmt.Sprintf("RL%d passed", i))
		})
	}
	if !strings.Contains(logs.String(), "homeserver rate limit; waiting as asked") {
		t.Error("no 429 was met; the limit in the test is too loose to show anything")
	}
	orig := 0
	for _, ev := range sy.messages(sy.roomOf(bot.UserID)) {
		if ev.Sender == bot.UserID && !isEdit(ev) {
			orig++
		}
	}
	if orig != pipelines {
		t.Errorf("alice saw %d messages, want %d (one per pipeline)", orig, pipelines)
	}
}
