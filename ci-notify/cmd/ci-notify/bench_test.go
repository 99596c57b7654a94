package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"scop/ci-notify/webhook"
)

// BenchmarkWebhookToSync measures the time from a webhook's arrival at
// ci-notify to the message (or its edit) appearing in another client's
// /sync long-poll, against a real scop serve. Every 20th delivery starts a
// new pipeline (a new message); the others edit it. It reports p50 and p99.
//
//	go test ./ci-notify/cmd/ci-notify -run '^$' -bench WebhookToSync -benchtime 200x
func BenchmarkWebhookToSync(b *testing.B) {
	needHomeserver(b)
	bot, pass := newUser(b, "cibot")
	alice, _ := newUser(b, "alice")
	const secret = "bench"
	cfg := writeConfig(b, fmt.Sprintf("invite: [%q]\nwebhooks: {generic_secret: %q}\n", alice.UserID, secret))
	e := env{"CI_NOTIFY_HOMESERVER": hs.url, "CI_NOTIFY_USER": bot.UserID.String(), "CI_NOTIFY_PASSWORD": pass, "CI_NOTIFY_STATE": b.TempDir()}
	url := serveInProcess(b, e, cfg)
	sy := newSyncer(b, alice)
	repo := fmt.Sprintf("bench/r%d", time.Now().UnixNano()%1e6)
	lat := make([]time.Duration, 0, b.N)
	acks := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		pipe, job := i/20, i%20
		i++
		payload := fmt.Appendf(nil, `{"repo":%q,"pipeline":"%d","pipeline_name":"P%d","status":"running","jobs":[{"name":"j%d","status":"success"}]}`,
			repo, pipe, pipe, job)
		want := fmt.Sprintf("P%d", pipe)
		line := fmt.Sprintf("✅ j%d", job)
		mark := sy.mark()
		start := time.Now()
		req, _ := http.NewRequest("POST", url+"/hooks/generic", bytes.NewReader(payload))
		req.Header.Set("X-Signature-256", webhook.SignHMACSHA256([]byte(secret), payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook answered %d", resp.StatusCode)
		}
		acks = append(acks, time.Since(start))
		if _, err := sy.waitAfter(mark, 30*time.Second, func(ev *event.Event) bool {
			t := body(ev)
			return ev.Sender == bot.UserID && strings.Contains(t, want+" running") && strings.Contains(t, line)
		}); err != nil {
			b.Fatalf("delivery %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	// The webhook's own answer: parse, verify, commit to SQLite.
	b.ReportMetric(pct(acks, 0.50), "ack-p50-ms")
}
