package smtpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/spool"
)

// mapMailboxes is a Mailboxes over a fixed set of local parts.
type mapMailboxes map[string]bool

func (m mapMailboxes) Exists(_ context.Context, local string) (bool, error) { return m[local], nil }

func testLimits() mailstack.Limits {
	return mailstack.Limits{
		MaxMessageBytes: 1 << 20, MaxRecipients: 5, MaxLineLength: 1000,
		MaxConnections: 50, MaxConnsPerIP: 20, MaxCommands: 50, MaxDataMemory: 8 << 20, MaxSessionTime: time.Minute,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
}

// testServer starts a receiver on 127.0.0.1:0 with mailboxes alice and
// bob in example.org and returns its address and spool.
func testServer(t testing.TB, mods ...func(*Options)) (string, *spool.Spool) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	sp, err := spool.Open(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Hostname:  "mx.example.org",
		Domains:   []string{"example.org", "example.net"},
		Aliases:   map[string]string{"postmaster": "alice", "info@example.net": "bob"},
		Mailboxes: mapMailboxes{"alice": true, "bob": true},
		Limits:    testLimits(),
		Spool:     sp,
		Log:       log,
	}
	for _, m := range mods {
		m(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(nil)
	t.Cleanup(func() { srv.Close() })
	return srv.Addr().String(), sp
}

// rawConn is a scripted SMTP client: send lines, expect replies.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	r.expect("220")
	return r
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write %.40q: %v", s, err)
	}
}

// reply reads one (possibly multi-line) reply and checks every line's
// syntax: three digits then space or dash (RFC 5321 §4.2).
func (r *rawConn) reply() (string, error) {
	var all strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return all.String(), err
		}
		if !validReplyLine(line) {
			r.t.Fatalf("invalid reply line %q", line)
		}
		all.WriteString(line)
		if line[3] == ' ' {
			return all.String(), nil
		}
	}
}

func validReplyLine(line string) bool {
	if len(line) < 5 || !strings.HasSuffix(line, "\r\n") {
		return false
	}
	if line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return false
	}
	return line[3] == ' ' || line[3] == '-'
}

func (r *rawConn) expect(code string) string {
	r.t.Helper()
	got, err := r.reply()
	if err != nil {
		r.t.Fatalf("read reply (want %s): %v (got %q)", code, err, got)
	}
	if !strings.HasPrefix(got, code) {
		r.t.Fatalf("reply = %q, want %s", got, code)
	}
	return got
}

func (r *rawConn) cmd(line, code string) string {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(code)
}

func spooled(t testing.TB, sp *spool.Spool) []string {
	t.Helper()
	items, err := sp.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		_, rc, err := sp.Open(it.Envelope.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, string(b))
	}
	return out
}

func TestDeliveryWithGoSMTPClient(t *testing.T) {
	addr, sp := testServer(t)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "SIZE", "ENHANCEDSTATUSCODES"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("extension %s not advertised", ext)
		}
	}
	msg := "Authentication-Results: mx.example.org; spf=pass\r\nFrom: s@sender.test\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.SendMail("s@sender.test", []string{"Alice@Example.org", "postmaster@example.org", "info@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	msgs := spooled(t, sp)
	if len(msgs) != 1 {
		t.Fatalf("spool has %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	for _, want := range []string{"Received: from client.example.com ([127.0.0.1])", "Authentication-Results: mx.example.org; none\r\n", "Subject: hi\r\n\r\nhello\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("spooled message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "spf=pass") {
		t.Errorf("forged Authentication-Results kept:\n%s", got)
	}
	items, _ := sp.List()
	if to := items[0].Envelope.To; len(to) != 2 || to[0] != "alice@example.org" || to[1] != "bob@example.org" {
		t.Errorf("envelope To = %v, want alice and bob (alias deduplicated)", to)
	}
}

func TestRecipients(t *testing.T) {
	addr, _ := testServer(t)
	r := dialRaw(t, addr)
	r.cmd("EHLO c.test", "250")
	r.cmd("MAIL FROM:<s@sender.test>", "250")
	tests := []struct{ rcpt, want string }{
		{"<alice@example.org>", "250"},
		{"<nobody@example.org>", "550 5.1.1"},
		{"<alice@elsewhere.test>", "550 5.7.1"},
		{"<INFO@example.net>", "250"},
		{"<info@example.org>", "550 5.1.1"},
		{"<noat>", "501"},
		{"<alice+lists@example.org>", "250"},
		{"<nobody+x@example.org>", "550 5.1.1"},
		{"<+x@example.org>", "550 5.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			r.t = t
			r.cmd("RCPT TO:"+tt.rcpt, tt.want)
		})
	}
}

func TestChecksRejectAndBlock(t *testing.T) {
	blocked := &blockCheck{}
	bc := &bodyCheck{}
	addr, sp := testServer(t, func(o *Options) {
		o.Pipeline = &check.Pipeline{Checks: []check.Check{blocked, bc}}
	})
	send := func(t *testing.T) error {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.SendMail("s@sender.test", []string{"alice@example.org"}, strings.NewReader("X-Spam-Status: No, forged\r\nSubject: x\r\n\r\nbody\r\n"))
	}
	bc.set(&mailstack.Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "DMARC policy reject", Err: errors.New("internal detail")}, "")
	err := send(t)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || strings.Contains(se.Message, "internal") {
		t.Errorf("rejected message: err = %v, want 550 5.7.1 without the internal detail", err)
	}
	// A wrapped mailstack.Error still gives its code (errors.As).
	bc.set(fmtWrap(&mailstack.Error{Code: 451, Enhanced: [3]int{4, 7, 0}, Message: "later"}), "")
	if err := send(t); !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("wrapped error: err = %v, want 451", err)
	}
	bc.set(nil, check.Spam)
	if err := send(t); err != nil {
		t.Fatalf("accepted message: %v", err)
	}
	msgs := spooled(t, sp)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "X-Spam-Status: Yes, score=0.990 verdict=spam\r\n") || !strings.Contains(msgs[0], "spf=pass") || strings.Contains(msgs[0], "forged") {
		t.Errorf("spool = %q, want one message with X-Spam-Status and spf=pass", msgs)
	}
	// A blocked client gets 554 instead of the greeting, then EOF.
	blocked.mu.Lock()
	blocked.block = true
	blocked.mu.Unlock()
	r := dialRawNoGreet(t, addr)
	r.expect("554 5.7.1")
	r.send("EHLO c.test\r\n")
	if got, err := r.reply(); err == nil {
		t.Errorf("refused connection answered %q", got)
	}
}

// blockCheck and bodyCheck are fakes the test reconfigures between
// messages; the mutex orders those changes with the server's reads.
type blockCheck struct {
	mu    sync.Mutex
	block bool
}

func (b *blockCheck) Name() string { return "block" }
func (b *blockCheck) CheckConnect(context.Context, *check.Conn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.block {
		return &mailstack.Error{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "Blocked"}
	}
	return nil
}

type bodyCheck struct {
	mu   sync.Mutex
	err  error
	spam check.SpamVerdict
}

func (b *bodyCheck) set(err error, spam check.SpamVerdict) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.spam = err, spam
}

func (b *bodyCheck) Name() string { return "body" }
func (b *bodyCheck) CheckBody(_ context.Context, m *check.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.Auth = append(m.Auth, check.AuthResult{Method: "spf", Result: "pass"})
	m.Spam, m.SpamScore = b.spam, 0.99
	return b.err
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func fmtWrap(err error) error { return wrapped{err} }

func TestSTARTTLS(t *testing.T) {
	cert, err := SelfSignedCert("mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	addr, sp := testServer(t, func(o *Options) {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS after STARTTLS")
	}
	if err := c.SendMail("s@sender.test", []string{"bob@example.org"}, strings.NewReader("Subject: tls\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if msgs := spooled(t, sp); len(msgs) != 1 || !strings.Contains(msgs[0], "with ESMTPS id") {
		t.Errorf("spool = %q, want one ESMTPS message", msgs)
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
