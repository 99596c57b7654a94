package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The integration tests run against a real `scop serve`, built once in
// TestMain from the enclosing module and shared by the tests (each uses its
// own users and repositories).

var hs struct {
	url    string
	data   string
	err    error // why the homeserver is unusable; tests skip with it
	cmd    *exec.Cmd
	exited chan error
	logMu  sync.Mutex
	log    bytes.Buffer
}

const scopConfig = `server_name: localhost
client_api:
  registration:
    enabled: true
  rate_limits:
    enabled: false
`

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ci-notify-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !testing.Short() {
		hs.err = startScop(dir)
	} else {
		hs.err = errors.New("-short: no homeserver")
	}
	code := m.Run()
	stopScop()
	if code != 0 && hs.cmd != nil {
		hs.logMu.Lock()
		fmt.Fprintf(os.Stderr, "---- scop stderr (last 8 KiB) ----\n%s\n", tail(hs.log.Bytes(), 8<<10))
		hs.logMu.Unlock()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside module scop")
	}
	return filepath.Dir(gomod), nil
}

func startScop(dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "scop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/scop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/scop: %v\n%s", err, out)
	}
	hs.data = filepath.Join(dir, "data")
	if err := os.MkdirAll(hs.data, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(hs.data, "scop.yaml"), []byte(scopConfig), 0o600); err != nil {
		return err
	}
	hs.cmd = exec.Command(bin, "serve", "--data", hs.data, "--listen", "127.0.0.1:0")
	stderr, err := hs.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := hs.cmd.Start(); err != nil {
		return fmt.Errorf("start scop: %w", err)
	}
	hs.exited = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			hs.logMu.Lock()
			hs.log.Write(sc.Bytes())
			hs.log.WriteByte('\n')
			hs.logMu.Unlock()
		}
		hs.exited <- hs.cmd.Wait()
	}()
	listenFile := filepath.Join(hs.data, "listen.json")
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(listenFile); err == nil {
			var l struct {
				Client string `json:"client"`
			}
			if err := json.Unmarshal(b, &l); err != nil || l.Client == "" {
				return fmt.Errorf("listen.json %q: no client address (%v)", b, err)
			}
			hs.url = "http://" + l.Client
			return nil
		}
		select {
		case err := <-hs.exited:
			hs.exited = nil
			return fmt.Errorf("scop serve exited before listening: %v", err)
		case <-deadline.C:
			return errors.New("scop serve wrote no listen.json within 60s")
		case <-tick.C:
		}
	}
}

func stopScop() {
	if hs.exited == nil {
		return
	}
	_ = hs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-hs.exited:
	case <-time.After(15 * time.Second):
		_ = hs.cmd.Process.Kill()
		<-hs.exited
	}
}

// needHomeserver skips a test when scop could not be built or started, or
// fails it under CI=true (where scop, part of this tree, must work); -short
// always skips.
func needHomeserver(tb testing.TB) {
	tb.Helper()
	if hs.err == nil {
		return
	}
	if os.Getenv("CI") == "true" && !testing.Short() {
		tb.Fatalf("homeserver unavailable: %v", hs.err)
	}
	tb.Skipf("homeserver unavailable: %v", hs.err)
}

var userSeq atomic.Int64

// newUser registers a fresh account (m.login.dummy) and returns its client.
func newUser(tb testing.TB, prefix string) (*mautrix.Client, string) {
	tb.Helper()
	cli, err := mautrix.NewClient(hs.url, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e6, userSeq.Add(1))
	pass := "pw-" + name + "-long-enough"
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: name, Password: pass})
	if err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return cli, pass
}

// requireFeature runs a probe and skips the test with the reason when the
// homeserver answers M_UNRECOGNIZED / 404 / 405: a feature not built yet.
// Any other failure fails the test.
func requireFeature(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	var he mautrix.HTTPError
	if errors.Is(err, mautrix.MUnrecognized) || (errors.As(err, &he) && he.Response != nil &&
		(he.Response.StatusCode == http.StatusNotFound || he.Response.StatusCode == http.StatusMethodNotAllowed)) {
		tb.Skipf("homeserver lacks %s: %v", what, err)
	}
	tb.Fatalf("%s: %v", what, err)
}

// syncer follows one user's /sync and collects the m.room.message events of
// every room, in order.
type syncer struct {
	cli   *mautrix.Client
	mu    sync.Mutex
	cond  *sync.Cond
	since string
	evs   []*event.Event
	err   error
}

func newSyncer(tb testing.TB, cli *mautrix.Client) *syncer {
	tb.Helper()
	s := &syncer{cli: cli}
	s.cond = sync.NewCond(&s.mu)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			resp, err := cli.SyncRequest(ctx, 10000, s.since, "", false, "")
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					s.err = err
				}
				s.cond.Broadcast()
				s.mu.Unlock()
				return
			}
			s.since = resp.NextBatch
			s.mu.Unlock()
			// Accept every invitation, as a person would.
			for roomID := range resp.Rooms.Invite {
				if _, err := cli.JoinRoomByID(ctx, roomID); err != nil && ctx.Err() == nil {
					s.mu.Lock()
					s.err = fmt.Errorf("join %s: %w", roomID, err)
					s.cond.Broadcast()
					s.mu.Unlock()
					return
				}
			}
			s.mu.Lock()
			for roomID, room := range resp.Rooms.Join {
				for _, ev := range room.Timeline.Events {
					if ev.Type == event.EventMessage {
						ev.RoomID = roomID
						_ = ev.Content.ParseRaw(ev.Type)
						s.evs = append(s.evs, ev)
					}
				}
			}
			s.cond.Broadcast()
			s.mu.Unlock()
		}
	}()
	return s
}

// wait blocks until match accepts one of the collected events (returning
// it) or the timeout passes.
func (s *syncer) wait(tb testing.TB, timeout time.Duration, what string, match func(*event.Event) bool) *event.Event {
	tb.Helper()
	ev, err := s.waitErr(timeout, match)
	if err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
	return ev
}

func (s *syncer) waitErr(timeout time.Duration, match func(*event.Event) bool) (*event.Event, error) {
	return s.waitAfter(0, timeout, match)
}

// mark returns how many events have been collected, for waitAfter.
func (s *syncer) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.evs)
}

// waitAfter is waitErr looking only at events collected after mark.
func (s *syncer) waitAfter(mark int, timeout time.Duration, match func(*event.Event) bool) (*event.Event, error) {
	timer := time.AfterFunc(timeout, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := mark; ; {
		for ; i < len(s.evs); i++ {
			if match(s.evs[i]) {
				return s.evs[i], nil
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("sync: %w", s.err)
		}
		if time.Now().After(deadline) {
			return nil, errors.New("timed out")
		}
		s.cond.Wait()
	}
}

// messages returns the collected events of a room.
func (s *syncer) messages(roomID id.RoomID) []*event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*event.Event
	for _, ev := range s.evs {
		if ev.RoomID == roomID {
			out = append(out, ev)
		}
	}
	return out
}

func body(ev *event.Event) string {
	c := ev.Content.AsMessage()
	if c.NewContent != nil {
		return c.NewContent.Body
	}
	return c.Body
}

func isEdit(ev *event.Event) bool {
	rel := ev.Content.AsMessage().RelatesTo
	return rel != nil && rel.Type == event.RelReplace
}
