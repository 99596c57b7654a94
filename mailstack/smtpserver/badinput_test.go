package smtpserver

import (
	"bufio"
	"context"
	"net"

	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestBadInput plays broken or hostile dialogues over raw TCP: each gets
// well-formed replies with the expected codes, the server stays up, and a
// message accepted before is still in the spool afterwards.
func TestBadInput(t *testing.T) {
	addr, sp := testServer(t)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("s@sender.test", []string{"alice@example.org"}, strings.NewReader("Subject: first\r\n\r\nkeep me\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	hello := "EHLO c.test\r\nMAIL FROM:<s@sender.test>\r\nRCPT TO:<alice@example.org>\r\n"
	tests := []struct {
		name string
		in   string
		want []string // reply code prefixes after the greeting, in order
	}{
		{"DataBeforeMail", "EHLO c.test\r\nDATA\r\n", []string{"250", "502"}},
		{"RcptBeforeMail", "EHLO c.test\r\nRCPT TO:<alice@example.org>\r\n", []string{"250", "502"}},
		{"MailBeforeHelo", "MAIL FROM:<a@b.test>\r\n", []string{"502"}},
		{"Garbage", "EHLO c.test\r\nXYZZY\r\n\x01\x02\r\n", []string{"250", "50", "50"}},
		{"TooManyErrors", "A\r\nB\r\nC\r\nD\r\nE\r\n", []string{"50", "50", "50", "50"}},
		{"BareLFCommands", "EHLO c.test\nMAIL FROM:<s@sender.test>\nRCPT TO:<bob@example.org>\nQUIT\n", []string{"250", "250", "250", "221"}},
		{"BareLFData", hello + "DATA\r\nSubject: lf\n\nbody\nmore\n\r\n.\r\n", []string{"250", "250", "250", "354", "250"}},
		{"NULInCommand", "EHLO \x00\x00\r\nEHLO ok\r\n", []string{"501", "250"}},
		{"NULInData", hello + "DATA\r\nSubject: nul\r\n\r\na\x00b\r\n.\r\n", []string{"250", "250", "250", "354", "250"}},
		{"UnbalancedMIME", hello + "DATA\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\npart, no end\r\n.\r\n", []string{"250", "250", "250", "354", "250"}},
		{"HugeHeader", hello + "DATA\r\n" + strings.Repeat("X-Long: "+strings.Repeat("h", 900)+"\r\n", 800) + "\r\nb\r\n.\r\n", []string{"250", "250", "250", "354", "250"}},
		{"TooBig", hello + "DATA\r\n" + strings.Repeat(strings.Repeat("b", 998)+"\r\n", 1100) + ".\r\n", []string{"250", "250", "250", "354", "552"}},
		{"TooManyRcpts", "EHLO c.test\r\nMAIL FROM:<s@sender.test>\r\n" + strings.Repeat("RCPT TO:<alice@example.org>\r\n", 6), []string{"250", "250", "250", "250", "250", "250", "250", "452"}},
		{"BadMailSyntax", "EHLO c.test\r\nMAIL FROM:nobrackets\r\nMAIL FROM:<a@b.test> BODY=NOPE\r\n", []string{"250", "501", "501"}},
		{"Pipelined", "EHLO c.test\r\nMAIL FROM:<s@sender.test>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n", []string{"250", "250", "250", "550", "354"}},
		{"LongerThanDeclaredSIZE", "EHLO c.test\r\nMAIL FROM:<s@sender.test> SIZE=20\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: this is longer than twenty bytes\r\n\r\nbody\r\n.\r\nNOOP\r\n", []string{"250", "250", "250", "354", "552", "250"}},
		{"BDAT", hello + "BDAT 14\r\nSubject: b\r\n\r\nBDAT 6 LAST\r\nbody\r\n", []string{"250", "250", "250", "250", "250"}},
		{"BDATNoRcpt", "EHLO c.test\r\nBDAT 4 LAST\r\nabcdNOOP\r\n", []string{"250", "502", "250"}},
		{"BDATBadSize", hello + "BDAT x\r\n", []string{"250", "250", "250", "501"}},
		{"RsetMidTransaction", hello + "RSET\r\nDATA\r\n", []string{"250", "250", "250", "250", "502"}},
		{"TooManyCommands", strings.Repeat("NOOP\r\n", 60), append(repeat("250", 50), "421")},
		{"EightBitHeaders", "EHLO c.test\r\nMAIL FROM:<s@sender.test> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: héllo wörld\r\n\r\nüñí\r\n.\r\n", []string{"250", "250", "250", "354", "250"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			go io.WriteString(r.c, tt.in)
			for i, want := range tt.want {
				got, err := r.reply()
				if err != nil || !strings.HasPrefix(got, want) {
					t.Fatalf("reply %d = %q, %v; want %s", i, got, err, want)
				}
			}
		})
	}
	// A 10 MB line, as a command and inside DATA: refused, never a crash.
	for _, pre := range []string{"", hello + "DATA\r\n"} {
		r := dialRaw(t, addr)
		go func() {
			io.WriteString(r.c, pre)
			io.WriteString(r.c, strings.Repeat("x", 10<<20)+"\r\n.\r\n")
		}()
		var last string
		for {
			got, err := r.reply()
			if err != nil {
				break
			}
			last = got
			if got[0] == '5' || got[0] == '4' {
				break
			}
		}
		if !strings.HasPrefix(last, "5") {
			t.Errorf("10 MB line after %q: last reply %q, want 5xx", pre, last)
		}
	}
	// The server is still up and the first message is still there.
	c, err = smtp.Dial(addr)
	if err != nil {
		t.Fatalf("server down after bad input: %v", err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range spooled(t, sp) {
		found = found || strings.Contains(m, "keep me")
	}
	if !found {
		t.Error("first accepted message lost")
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestConnectionsPerIP(t *testing.T) {
	addr, _ := testServer(t, func(o *Options) { o.Limits.MaxConnsPerIP = 2 })
	a := dialRaw(t, addr)
	b := dialRaw(t, addr)
	_ = a
	c := dialRawNoGreet(t, addr)
	if got, _ := c.reply(); !strings.HasPrefix(got, "421 4.7.0") {
		t.Errorf("third connection: %q, want 421 4.7.0", got)
	}
	b.cmd("QUIT", "221")
	// The freed slot is reusable once the server has seen the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := dialRawNoGreet(t, addr)
		got, _ := d.reply()
		if strings.HasPrefix(got, "220") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dialRawNoGreet(t testing.TB, addr string) *rawConn {
	t.Helper()
	r := &rawConn{t: t}
	c, err := dialTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.c, r.br = c, newReader(c)
	return r
}

// panicMailboxes panics on lookup: go-smtp's per-command recovery must
// answer 421 and close only that connection.
type panicMailboxes struct{}

func (panicMailboxes) Exists(context.Context, string) (bool, error) { panic("mailbox store broken") }

func TestPanicGives421(t *testing.T) {
	addr, _ := testServer(t, func(o *Options) { o.Mailboxes = panicMailboxes{} })
	r := dialRaw(t, addr)
	r.cmd("EHLO c.test", "250")
	r.cmd("MAIL FROM:<a@b.test>", "250")
	r.cmd("RCPT TO:<alice@example.org>", "421")
	if _, err := r.reply(); err == nil {
		t.Error("connection still open after panic")
	}
	dialRaw(t, addr).cmd("NOOP", "250")
}

func TestReadTimeout(t *testing.T) {
	addr, _ := testServer(t, func(o *Options) { o.Limits.ReadTimeout = 100 * time.Millisecond })
	r := dialRaw(t, addr)
	got, err := r.reply()
	if err != nil || !strings.HasPrefix(got, "421 4.4.2") {
		t.Errorf("idle client got %q, %v; want 421 4.4.2", got, err)
	}
}

func dialTCP(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	return c, err
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func TestLimitKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
	}
	for _, tt := range tests {
		if got := limitKey(&net.TCPAddr{IP: net.ParseIP(tt.ip)}); got != tt.want {
			t.Errorf("limitKey(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
}
