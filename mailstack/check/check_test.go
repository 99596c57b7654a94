package check

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"scop/mailstack"
)

// fakeCheck records calls and answers from its fields.
type fakeCheck struct {
	name     string
	calls    *[]string
	rejectAt string
	auth     *AuthResult
	spam     SpamVerdict
	quar     bool
	panicAt  string
	observed *error
}

func (f *fakeCheck) Name() string { return f.name }

func (f *fakeCheck) step(stage string) error {
	*f.calls = append(*f.calls, f.name+"."+stage)
	if f.panicAt == stage {
		panic("boom")
	}
	if f.rejectAt == stage {
		return &mailstack.Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "no"}
	}
	return nil
}

func (f *fakeCheck) CheckConnect(context.Context, *Conn) error { return f.step("connect") }
func (f *fakeCheck) CheckMailFrom(context.Context, *Conn, string) error {
	return f.step("mail")
}
func (f *fakeCheck) CheckRcpt(context.Context, *Conn, string, string) error { return f.step("rcpt") }
func (f *fakeCheck) CheckBody(_ context.Context, m *Message) error {
	if f.auth != nil {
		m.Auth = append(m.Auth, *f.auth)
	}
	if f.spam != "" {
		m.Spam = f.spam
	}
	if f.quar {
		m.Quarantine = true
	}
	return f.step("body")
}
func (f *fakeCheck) Observe(_ context.Context, _ *Message, rejected error) {
	*f.calls = append(*f.calls, f.name+".observe")
	if f.observed != nil {
		*f.observed = rejected
	}
}

func TestPipelineStages(t *testing.T) {
	var calls []string
	var observed error
	a := &fakeCheck{name: "a", calls: &calls, auth: &AuthResult{Method: "spf", Result: "pass"}}
	b := &fakeCheck{name: "b", calls: &calls, rejectAt: "body", observed: &observed}
	c := &fakeCheck{name: "c", calls: &calls}
	p := &Pipeline{Checks: []Check{a, b, c}}
	ctx := t.Context()
	conn := &Conn{IP: net.IPv4(127, 0, 0, 1), Helo: "client"}
	if err := p.Connect(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := p.MailFrom(ctx, conn, "x@y.org"); err != nil {
		t.Fatal(err)
	}
	if err := p.Rcpt(ctx, conn, "x@y.org", "u@z.org"); err != nil {
		t.Fatal(err)
	}
	m := &Message{Conn: conn}
	err := p.Body(ctx, m)
	var me *mailstack.Error
	if !errors.As(err, &me) || me.Code != 550 {
		t.Fatalf("Body() = %v, want the 550 from b", err)
	}
	want := "a.connect b.connect c.connect a.mail b.mail c.mail a.rcpt b.rcpt c.rcpt a.body b.body a.observe b.observe c.observe"
	if got := strings.Join(calls, " "); got != want {
		t.Errorf("calls = %s\nwant    %s", got, want)
	}
	if observed != err {
		t.Errorf("observer saw %v, want %v", observed, err)
	}
	if len(m.Auth) != 1 || m.Auth[0].Method != "spf" {
		t.Errorf("Auth = %+v", m.Auth)
	}
}

func TestPipelineQuarantineAndPanic(t *testing.T) {
	var calls []string
	p := &Pipeline{Log: slog.New(slog.DiscardHandler), Checks: []Check{
		&fakeCheck{name: "dmarc", calls: &calls, quar: true},
		&fakeCheck{name: "spam", calls: &calls, spam: Ham},
	}}
	m := &Message{Conn: &Conn{}}
	if err := p.Body(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if m.Spam != Spam {
		t.Errorf("quarantined message has Spam = %q, want spam", m.Spam)
	}
	p = &Pipeline{Log: slog.New(slog.DiscardHandler), Checks: []Check{&fakeCheck{name: "bad", calls: &calls, panicAt: "rcpt"}}}
	err := p.Rcpt(t.Context(), &Conn{}, "a@b", "c@d")
	var me *mailstack.Error
	if !errors.As(err, &me) || me.Code != 451 {
		t.Errorf("panicking check gave %v, want 451", err)
	}
}

func TestFormatAuthResults(t *testing.T) {
	tests := []struct {
		name string
		rs   []AuthResult
		want string
	}{
		{"None", nil, "mx.example.org; none"},
		{"Two", []AuthResult{
			{Method: "spf", Result: "pass", Props: []Prop{{"smtp", "mailfrom", "a@b.org"}}},
			{Method: "dkim", Result: "fail", Reason: "bad sig", Props: []Prop{{"header", "d", "b.org"}}},
		}, "mx.example.org;\r\n\tspf=pass smtp.mailfrom=a@b.org;\r\n\tdkim=fail reason=\"bad sig\" header.d=b.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatAuthResults("mx.example.org", tt.rs); got != tt.want {
				t.Errorf("FormatAuthResults = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitMessage(t *testing.T) {
	tests := []struct{ raw, hdr, body string }{
		{"A: b\r\n\r\nbody", "A: b\r\n", "body"},
		{"A: b\n\nbody\n", "A: b\n", "body\n"},
		{"\r\nbody", "", "body"},
		{"A: b\r\n", "A: b\r\n", ""},
	}
	for _, tt := range tests {
		h, b := SplitMessage([]byte(tt.raw))
		if string(h) != tt.hdr || string(b) != tt.body {
			t.Errorf("SplitMessage(%q) = %q, %q; want %q, %q", tt.raw, h, b, tt.hdr, tt.body)
		}
	}
}
