package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack/spool"
)

var (
	buildOnce sync.Once
	binDir    string
	scopBin   string
	buildErr  error
)

// TestMain removes the scop binary built by the tests that needed it.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// scopBinary builds cmd/scop once per test binary run.
func scopBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scop-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		scopBin = filepath.Join(dir, "scop")
		out, err := exec.Command("go", "build", "-o", scopBin, "scop/cmd/scop").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return scopBin
}

// startReceive runs `scop mail receive` on data and waits for its
// mail-listen.json (no log scraping, no sleeps as synchronisation).
func startReceive(t *testing.T, bin, data string) (*exec.Cmd, string) {
	t.Helper()
	listenFile := filepath.Join(data, "mail-listen.json")
	os.Remove(listenFile)
	cmd := exec.Command(bin, "mail", "receive", "--data", data, "--listen", "127.0.0.1:0")
	cmd.Stderr = io.Discard
	if testing.Verbose() {
		cmd.Stderr = t.Output()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(listenFile)
		if err == nil {
			var v struct{ SMTP string }
			if json.Unmarshal(b, &v) == nil && v.SMTP != "" {
				return cmd, v.SMTP
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("scop mail receive did not write %s", listenFile)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var tokenRE = regexp.MustCompile(`X-Token: (tok-\d+-\d+-\d+)`)

// TestKill9LosesNoAcceptedMessage streams messages from several clients
// into a real `scop mail receive`, SIGKILLs it at random moments, restarts
// it, and checks that every message answered 250 is in the spool.
func TestKill9LosesNoAcceptedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the scop binary")
	}
	bin := scopBinary(t)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "scop.yaml"), []byte("server_name: example.org\nmetrics:\n  listen: \"off\"\n"+
		"mail:\n  checks:\n    spf: false\n    dkim: false\n    dmarc: false\n"), 0o600)
	makeAccountsDB(t, filepath.Join(data, "homeserver.db"), "alice")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var mu sync.Mutex
	acked := map[string]bool{}
	const rounds, clients = 6, 4
	for round := range rounds {
		cmd, addr := startReceive(t, bin, data)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for cl := range clients {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					tok := fmt.Sprintf("tok-%d-%d-%d", round, cl, n)
					msg := fmt.Sprintf("From: s@sender.test\r\nSubject: %s\r\nX-Token: %s\r\n\r\n%s\r\n", tok, tok, strings.Repeat("body line\r\n", (n*7+cl)%50))
					if err := sendPlain(addr, "s@sender.test", "alice@example.org", msg); err == nil {
						mu.Lock()
						acked[tok] = true
						mu.Unlock()
					} else if errors.Is(err, syscall.ECONNREFUSED) {
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	// Restart once more (recovery at Open) and stop cleanly.
	cmd, _ := startReceive(t, bin, data)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	sp, err := spool.OpenReadOnly(filepath.Join(data, "mail/spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := sp.List()
	if err != nil {
		t.Fatal(err)
	}
	inSpool := map[string]bool{}
	for _, it := range items {
		_, rc, err := sp.Open(it.Envelope.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if m := tokenRE.FindSubmatch(b); m != nil {
			inSpool[string(m[1])] = true
		}
	}
	lost := 0
	for tok := range acked {
		if !inSpool[tok] {
			lost++
			t.Errorf("message %s got 250 but is not in the spool", tok)
		}
	}
	t.Logf("%d rounds: %d messages acknowledged, %d in spool, %d lost", rounds, len(acked), len(inSpool), lost)
	// The admin view agrees.
	out, err := exec.Command(bin, "mail", "queue", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d message(s)", len(items))) {
		t.Errorf("scop mail queue: %v\n%.2000s", err, out)
	}
	if len(acked) == 0 {
		t.Error("no message was acknowledged: the test proved nothing")
	}
}

// sendPlain sends one message without STARTTLS (smtp.SendMail would try
// it and refuse our self-signed certificate).
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
