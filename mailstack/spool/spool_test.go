package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestEnqueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	env := &Envelope{From: "a@example.org", To: []string{"bob@example.com"}}
	if err := s.Enqueue(env, []byte("X-Added: 1\r\n"), []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	gone := &Envelope{From: "a@example.org", To: []string{"x@example.com"}}
	s.Enqueue(gone, []byte("Subject: gone\r\n\r\n"))
	if err := s.Remove(gone.ID); err != nil {
		t.Fatal(err)
	}
	st := State{Attempts: 2, LastError: "451 later", Delivered: map[string]string{"z@example.com": "ok"}}
	if err := s.SaveState(env.ID, st); err != nil {
		t.Fatal(err)
	}
	// A second writer is refused; a reader sees the queue meanwhile.
	if _, err := Open(dir, testLog(t)); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	ro, err := OpenReadOnly(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if items, _ := ro.List(); len(items) != 1 {
		t.Errorf("read-only List() = %d items, want 1", len(items))
	}
	if err := ro.Enqueue(&Envelope{From: "a@b.test", To: []string{"c@d.test"}}, []byte("x")); err == nil {
		t.Error("read-only spool accepted a message")
	}
	// A crash mid-append leaves a torn record: it was never acknowledged
	// and must be ignored at replay.
	segs, _ := s.segments()
	s.Close()
	f, _ := os.OpenFile(s.segPath(segs[len(segs)-1]), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{'M', 0, 0, 1, 0, 1, 2})
	f.Close()

	s2, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	items, err := s2.List()
	if err != nil || len(items) != 1 {
		t.Fatalf("List() = %+v, %v; want 1 item", items, err)
	}
	if items[0].State.Attempts != 2 || items[0].State.Delivered["z@example.com"] != "ok" {
		t.Errorf("state after reopen = %+v", items[0].State)
	}
	got, rc, err := s2.Open(env.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if want := "X-Added: 1\r\nSubject: hi\r\n\r\nbody\r\n"; string(b) != want {
		t.Errorf("body = %q, want %q", b, want)
	}
	if got.From != env.From || len(got.To) != 1 || got.To[0] != "bob@example.com" {
		t.Errorf("envelope = %+v", got)
	}
	// Messages written after a torn record (new segment) survive too.
	third := &Envelope{From: "a@example.org", To: []string{"c@example.com"}}
	if err := s2.Enqueue(third, []byte("Subject: 3\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s3, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if items, _ := s3.List(); len(items) != 2 {
		t.Errorf("after second reopen: %d items, want 2", len(items))
	}
	if _, _, err := s3.Open(gone.ID); err != ErrNotFound {
		t.Errorf("removed message: Open = %v, want ErrNotFound", err)
	}
}

func TestSegmentsCollected(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SegmentBytes = 2000
	var ids []string
	for range 20 {
		env := &Envelope{From: "a@b.test", To: []string{"c@d.test"}}
		if err := s.Enqueue(env, bytes.Repeat([]byte("x"), 500)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, env.ID)
	}
	segs, _ := s.segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments, want rotation", len(segs))
	}
	// Removing a later message first must not let its segment go while
	// an earlier one holds a pending message.
	for _, id := range ids[10:] {
		s.Remove(id)
	}
	for _, id := range ids[:10] {
		s.Remove(id)
	}
	if segs, _ := s.segments(); len(segs) != 1 {
		t.Errorf("%d segments left after removing everything, want the active one", len(segs))
	}
	s.Close()
	s2, _ := Open(dir, testLog(t))
	if items, _ := s2.List(); len(items) != 0 {
		t.Errorf("%d messages resurrected", len(items))
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	s, err := Open(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			env := &Envelope{From: "a@x.org", To: []string{"b@y.org"}}
			if err := s.Enqueue(env, []byte(strings.Repeat("x", i*100))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	items, _ := s.List()
	if len(items) != 16 {
		t.Errorf("List() has %d items, want 16", len(items))
	}
}

// lmtpSink is an LMTP server on loopback answering per recipient from a
// script: reply[rcpt] is consumed one entry per attempt ("" = accept).
type lmtpSink struct {
	mu       sync.Mutex
	replies  map[string][]*smtp.SMTPError
	received map[string][]string // rcpt -> bodies
}

func (k *lmtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

type sinkSession struct {
	k     *lmtpSink
	rcpts []string
}

func (s *sinkSession) Reset()                               { s.rcpts = nil }
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *sinkSession) Data(io.Reader) error { panic("LMTPData expected") }
func (s *sinkSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	for _, rc := range s.rcpts {
		var e *smtp.SMTPError
		if q := s.k.replies[rc]; len(q) > 0 {
			e, s.k.replies[rc] = q[0], q[1:]
		}
		if e == nil {
			s.k.received[rc] = append(s.k.received[rc], string(b))
			st.SetStatus(rc, nil)
		} else {
			st.SetStatus(rc, e)
		}
	}
	return nil
}

func startSink(t *testing.T, network, addr string, replies map[string][]*smtp.SMTPError) (*lmtpSink, string) {
	t.Helper()
	k := &lmtpSink{replies: replies, received: map[string][]string{}}
	srv := smtp.NewServer(k)
	srv.LMTP = true
	srv.Domain = "sink"
	srv.ErrorLog = slogPrintf{testLog(t)}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return k, l.Addr().String()
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(f string, v ...any) {
	p.l.Warn("lmtp sink", "msg", strings.TrimSpace(sprintf(f, v...)))
}
func (p slogPrintf) Println(v ...any) { p.l.Warn("lmtp sink", "msg", sprintf("%v", v...)) }

func TestDeliverPerRecipientStatus(t *testing.T) {
	temp := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "later"}
	perm := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	sink, addr := startSink(t, "tcp", "127.0.0.1:0", map[string][]*smtp.SMTPError{
		"temp@x.org": {temp},
		"gone@x.org": {perm},
	})
	s, err := Open(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	env := &Envelope{From: "s@y.org", To: []string{"ok@x.org", "temp@x.org", "gone@x.org"}}
	if err := s.Enqueue(env, []byte("Subject: t\r\n\r\n.leading dot\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := &Deliverer{Spool: s, Network: "tcp", Addr: addr, Log: testLog(t),
		Retry: mailstack.Retry{Initial: time.Minute, Max: time.Hour, Factor: 2, MaxAge: 24 * time.Hour},
		Now:   func() time.Time { return now }}

	d.deliverOne(t.Context(), env.ID)
	st, _ := s.State(env.ID)
	if _, ok := st.Delivered["ok@x.org"]; !ok {
		t.Errorf("after attempt 1: ok@x.org not delivered: %+v", st)
	}
	if _, ok := st.Failed["gone@x.org"]; !ok {
		t.Errorf("after attempt 1: gone@x.org not failed: %+v", st)
	}
	if p := st.Pending(env); len(p) != 1 || p[0] != "temp@x.org" {
		t.Errorf("pending = %v, want [temp@x.org]", p)
	}
	if want := now.Add(time.Minute); !st.NextAttempt.Equal(want) {
		t.Errorf("NextAttempt = %v, want %v", st.NextAttempt, want)
	}
	if ids, _ := s.Due(now); len(ids) != 0 {
		t.Errorf("Due before backoff = %v", ids)
	}
	now = now.Add(2 * time.Minute)
	if ids, _ := s.Due(now); len(ids) != 1 {
		t.Fatalf("Due after backoff = %v", ids)
	}
	d.deliverOne(t.Context(), env.ID)

	items, _ := s.List()
	if len(items) != 1 || !items[0].Dead {
		t.Fatalf("List() = %+v, want one dead letter", items)
	}
	if _, ok := items[0].State.Failed["gone@x.org"]; !ok {
		t.Errorf("dead letter lacks the permanent failure: %+v", items[0].State)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.received["ok@x.org"]) != 1 || len(sink.received["temp@x.org"]) != 1 {
		t.Errorf("received = %v, want one copy each for ok and temp", sink.received)
	}
	if got := sink.received["ok@x.org"][0]; !strings.Contains(got, "\r\n.leading dot\r\n") {
		t.Errorf("body mangled: %q", got)
	}
}

func TestRunDeliversOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	sink, _ := startSink(t, "unix", sock, nil)
	s, err := Open(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Spool: s, Network: "unix", Addr: sock, Log: testLog(t),
		Retry: mailstack.Retry{Initial: 10 * time.Millisecond, Max: time.Second, Factor: 2, MaxAge: time.Hour}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for i := range 5 {
		env := &Envelope{From: "s@y.org", To: []string{"u@x.org"}}
		if err := s.Enqueue(env, bytes.Repeat([]byte("line\r\n"), i+1)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		items, _ := s.List()
		if len(items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v", items)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if n := len(sink.received["u@x.org"]); n != 5 {
		t.Errorf("sink got %d messages, want 5", n)
	}
}

func TestBackoff(t *testing.T) {
	d := &Deliverer{Retry: mailstack.Retry{Initial: time.Minute, Max: 10 * time.Minute, Factor: 2}}
	for _, tt := range []struct {
		attempts int
		want     time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {4, 8 * time.Minute}, {5, 10 * time.Minute}, {500, 10 * time.Minute}} {
		if got := d.Backoff(tt.attempts); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func sprintf(f string, v ...any) string { return fmt.Sprintf(f, v...) }

// TestRetryUntilTargetUp: with the LMTP server down, attempts fail and
// back off; once it listens, the next attempt delivers.
func TestRetryUntilTargetUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s, err := Open(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := &Deliverer{Spool: s, Network: "tcp", Addr: addr, Log: slog.New(slog.DiscardHandler),
		Retry: mailstack.Retry{Initial: time.Minute, Max: time.Hour, Factor: 2, MaxAge: 24 * time.Hour},
		Now:   func() time.Time { return now }}
	env := &Envelope{From: "s@y.org", To: []string{"u@x.org"}}
	if err := s.Enqueue(env, []byte("Subject: r\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute} {
		d.deliverOne(t.Context(), env.ID)
		st, _ := s.State(env.ID)
		if st.Attempts != i+1 || st.LastError == "" || !st.NextAttempt.Equal(now.Add(want)) {
			t.Fatalf("attempt %d: state %+v, want next in %v", i+1, st, want)
		}
		now = now.Add(want)
	}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	l2.Close()
	sink, _ := startSink(t, "tcp", addr, nil)
	d.deliverOne(t.Context(), env.ID)
	if items, _ := s.List(); len(items) != 0 {
		t.Errorf("after the target came up: %+v", items)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.received["u@x.org"]) != 1 {
		t.Errorf("sink got %v", sink.received)
	}
}

// TestExpiredBecomesDeadLetter: a message still undeliverable after
// MaxAge is buried with its last error.
func TestExpiredBecomesDeadLetter(t *testing.T) {
	s, err := Open(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := &Deliverer{Spool: s, Network: "tcp", Addr: "127.0.0.1:1", Log: slog.New(slog.DiscardHandler),
		Retry: mailstack.Retry{Initial: time.Minute, Max: time.Hour, Factor: 2, MaxAge: time.Hour},
		Now:   func() time.Time { return now }}
	env := &Envelope{From: "s@y.org", To: []string{"u@x.org"}, Received: now.Add(-2 * time.Hour)}
	if err := s.Enqueue(env, []byte("Subject: old\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	d.deliverOne(t.Context(), env.ID)
	items, _ := s.List()
	if len(items) != 1 || !items[0].Dead || !strings.HasPrefix(items[0].State.Failed["u@x.org"], "expired") {
		t.Fatalf("List() = %+v, want one expired dead letter", items)
	}
}

// TestCompactMovesStragglers: one undeliverable message in the oldest
// segment is copied forward with its state, so old segments go away.
func TestCompactMovesStragglers(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SegmentBytes = 2000
	var ids []string
	for range 30 {
		env := &Envelope{From: "a@b.test", To: []string{"c@d.test"}}
		if err := s.Enqueue(env, bytes.Repeat([]byte("y"), 500)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, env.ID)
	}
	st := State{Attempts: 3, LastError: "451 busy"}
	if err := s.SaveState(ids[0], st); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if err := s.Remove(id); err != nil {
			t.Fatal(err)
		}
	}
	if segs, _ := s.segments(); len(segs) > 2 {
		t.Errorf("%d segments kept for one pending message", len(segs))
	}
	s.Close()
	s2, err := Open(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := s2.List()
	if len(items) != 1 || items[0].Envelope.ID != ids[0] || items[0].State.Attempts != 3 {
		t.Fatalf("after reopen: %+v", items)
	}
	_, rc, err := s2.Open(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, bytes.Repeat([]byte("y"), 500)) {
		t.Errorf("moved message body = %q", b)
	}
}
