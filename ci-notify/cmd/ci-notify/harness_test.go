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

// scopServer is one running `scop serve`.
type scopServer struct {
	url    string
	data   string
	cmd    *exec.Cmd
	exited chan error
	logMu  sync.Mutex
	log    bytes.Buffer
}

var (
	scopBin string      // built once by TestMain
	hs      *scopServer // shared by the tests
	hsErr   error       // why there is no homeserver; tests skip with it
)

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
	if testing.Short() {
		hsErr = errors.New("-short: no homeserver")
	} else if scopBin, hsErr = buildScop(dir); hsErr == nil {
		hs, hsErr = startScop(filepath.Join(dir, "data"), scopConfig)
	}
	code := m.Run()
	if hs != nil {
		hs.stop()
		if code != 0 {
			fmt.Fprintf(os.Stderr, "---- scop stderr (last 8 KiB) ----\n%s\n", hs.logTail(8<<10))
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func (s *scopServer) logTail(n int) []byte {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	b := s.log.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return append([]byte(nil), b...)
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

func buildScop(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "scop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/scop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/scop: %v\n%s", err, out)
	}
	return bin, nil
}

// startScop starts `scop serve` on a fresh data directory with config,
// returning once it has written listen.json.
func startScop(data, config string) (*scopServer, error) {
	s := &scopServer{data: data}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(data, "scop.yaml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(scopBin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start scop: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.logMu.Lock()
			s.log.Write(sc.Bytes())
			s.log.WriteByte('\n')
			s.logMu.Unlock()
		}
		s.exited <- s.cmd.Wait()
	}()
	listenFile := filepath.Join(data, "listen.json")
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
				s.stop()
				return nil, fmt.Errorf("listen.json %q: no client address (%v)", b, err)
			}
			s.url = "http://" + l.Client
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("scop serve exited before listening: %v\n%s", err, s.logTail(4<<10))
		case <-deadline.C:
			s.stop()
			return nil, errors.New("scop serve wrote no listen.json within 60s")
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 15s).
func (s *scopServer) stop() {
	if s.exited == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.exited = nil
}

// needHomeserver skips a test when scop could not be built or started, or
// fails it under CI=true (where scop, part of this tree, must work); -short
// always skips.
func needHomeserver(tb testing.TB) {
	tb.Helper()
	if hsErr == nil {
		return
	}
	if os.Getenv("CI") == "true" && !testing.Short() {
		tb.Fatalf("homeserver unavailable: %v", hsErr)
	}
	tb.Skipf("homeserver unavailable: %v", hsErr)
}

var userSeq atomic.Int64

// newUser registers a fresh account (m.login.dummy) on the shared
// homeserver and returns its client.
func newUser(tb testing.TB, prefix string) (*mautrix.Client, string) {
	tb.Helper()
	return newUserOn(tb, hs, prefix)
}

func newUserOn(tb testing.TB, srv *scopServer, prefix string) (*mautrix.Client, string) {
	tb.Helper()
	cli, err := mautrix.NewClient(srv.url, "", "")
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
		if os.Getenv("CI") == "true" {
			// The tree's own scop must serve what ci-notify needs.
			tb.Fatalf("homeserver lacks %s: %v", what, err)
		}
		tb.Skipf("homeserver lacks %s: %v", what, err)
	}
	tb.Fatalf("%s: %v", what, err)
}

// syncer follows one user's /sync and collects the m.room.message events of
// every room, in order.
type syncer struct {
	cli    *mautrix.Client
	mu     sync.Mutex
	cond   *sync.Cond
	since  string
	evs    []*event.Event
	joined map[id.RoomID]bool
	err    error
}

func newSyncer(tb testing.TB, cli *mautrix.Client) *syncer {
	tb.Helper()
	s := &syncer{cli: cli, joined: map[id.RoomID]bool{}}
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
				s.joined[roomID] = true
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

// waitJoined blocks until the user's /sync shows roomID as joined.
func (s *syncer) waitJoined(tb testing.TB, roomID id.RoomID, timeout time.Duration) {
	tb.Helper()
	timer := time.AfterFunc(timeout, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.joined[roomID] {
		if s.err != nil {
			tb.Fatalf("sync: %v", s.err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not joined to %s after %v", roomID, timeout)
		}
		s.cond.Wait()
	}
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

// roomOf returns the room of the first collected event from sender.
func (s *syncer) roomOf(sender id.UserID) id.RoomID {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.evs {
		if ev.Sender == sender {
			return ev.RoomID
		}
	}
	return ""
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
