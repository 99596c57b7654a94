package receiver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/dkim"
	"scop/mailstack/dns/dnstest"
)

// chainWorld is the DNS of the whole-chain tests: sender.test publishes
// SPF for 127.0.0.1, a DKIM key and p=reject; rejecting.test publishes
// p=reject with no way to pass; quarantine.test p=quarantine.
func chainWorld(t testing.TB) (*dnstest.MapResolver, dkim.SignOptions) {
	t.Helper()
	key, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.KeyRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	res := &dnstest.MapResolver{TXT: map[string][]string{
		"sender.test":                {"v=spf1 ip4:127.0.0.1 -all"},
		"sel._domainkey.sender.test": {rec},
		"_dmarc.sender.test":         {"v=DMARC1; p=reject"},
		"rejecting.test":             {"v=spf1 -all"},
		"_dmarc.rejecting.test":      {"v=DMARC1; p=reject"},
		"_dmarc.quarantine.test":     {"v=DMARC1; p=quarantine"},
	}}
	return res, dkim.SignOptions{Domain: "sender.test", Selector: "sel", Key: key}
}

// chainReceiver runs a receiver with every check on (SPF, DKIM, DMARC,
// spam, reputation) over resolver.
func chainReceiver(t testing.TB, resolver *dnstest.MapResolver, mod func(*mailstack.Config)) *Receiver {
	t.Helper()
	data := t.TempDir()
	makeAccountsDB(t, filepath.Join(data, "homeserver.db"), "alice")
	db, err := OpenAccountsDB(filepath.Join(data, "homeserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := mailstack.DefaultConfig()
	cfg.Hostname = "mx.example.org"
	cfg.Limits.MaxCommands = 1 << 30
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(Options{Config: cfg, DataDir: data, ServerName: "example.org", Mailboxes: &AccountsMailboxes{DB: db},
		Resolver: resolver, Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func spooledText(t testing.TB, r *Receiver) []string {
	t.Helper()
	items, err := r.Spool.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		_, rc, err := r.Spool.Open(it.Envelope.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, string(b))
	}
	return out
}

func TestWholeChain(t *testing.T) {
	resolver, signOpts := chainWorld(t)
	r := chainReceiver(t, resolver, nil)
	addr := r.Addr().String()

	signed, err := dkim.SignMessage([]byte("From: Sender <s@sender.test>\r\nTo: alice@example.org\r\nSubject: signed\r\n"+
		"Authentication-Results: mx.example.org; dkim=pass header.d=forged.test\r\n\r\nhello\r\n"), signOpts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from     string
		msg      string
		wantCode int      // 0: accepted
		want     []string // in the spooled message
		notWant  []string
	}{
		{"SignedPasses", "s@sender.test", string(signed), 0,
			[]string{"spf=pass smtp.mailfrom=s@sender.test", "dkim=pass", "header.d=sender.test", "dmarc=pass", "header.from=sender.test", "X-Spam-Status: No"},
			[]string{"forged.test"}},
		{"DMARCReject", "x@rejecting.test", "From: x@rejecting.test\r\nSubject: r\r\n\r\nbody\r\n", 550, nil, nil},
		{"DMARCQuarantine", "x@quarantine.test", "From: x@quarantine.test\r\nSubject: q\r\n\r\nbody\r\n", 0,
			[]string{"dmarc=fail", "X-Spam-Status: Yes", "verdict=spam"}, nil},
		{"NoPolicy", "x@nopolicy.test", "From: x@nopolicy.test\r\nSubject: n\r\n\r\nbody\r\n", 0,
			[]string{"spf=none", "dkim=none", "dmarc=none"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(spooledText(t, r))
			err := sendPlain(addr, tt.from, "alice@example.org", tt.msg)
			var se *smtp.SMTPError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("send: %v", err)
			case tt.wantCode != 0 && (!errors.As(err, &se) || se.Code != tt.wantCode):
				t.Fatalf("send: %v, want %d", err, tt.wantCode)
			}
			msgs := spooledText(t, r)
			if tt.wantCode != 0 {
				if len(msgs) != before {
					t.Errorf("rejected message was spooled")
				}
				return
			}
			var got string
			for _, m := range msgs {
				if strings.Contains(m, "From: "+tt.from) || strings.Contains(m, "<"+tt.from+">") {
					got = m
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("spooled message lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("spooled message has %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestReputationBlocks: repeated DMARC rejections from one IP raise its
// score over the threshold; the next connection is refused with 554.
func TestReputationBlocks(t *testing.T) {
	resolver, _ := chainWorld(t)
	r := chainReceiver(t, resolver, func(c *mailstack.Config) { c.Reputation.Threshold = 5 })
	addr := r.Addr().String()
	for i := range 2 {
		err := sendPlain(addr, "x@rejecting.test", "alice@example.org", "From: x@rejecting.test\r\n\r\nbody\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Fatalf("message %d: %v, want 550", i, err)
		}
	}
	err := sendPlain(addr, "s@sender.test", "alice@example.org", "From: s@sender.test\r\n\r\nbody\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 {
		t.Fatalf("after two DMARC failures: %v, want 554 at EHLO", err)
	}
	var listed bool
	for _, e := range r.Checks.Reputation.List(0) {
		listed = listed || e.Key == "127.0.0.1/32" && e.Blocked
	}
	if !listed {
		t.Errorf("127.0.0.1 not listed as blocked: %+v", r.Checks.Reputation.List(0))
	}
}

// TestHarvestingBlocks: probing for mailboxes costs the client address
// reputation until it is refused at connect.
func TestHarvestingBlocks(t *testing.T) {
	resolver, _ := chainWorld(t)
	r := chainReceiver(t, resolver, func(c *mailstack.Config) { c.Reputation.Threshold = 2.5 })
	c, err := smtp.Dial(r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("harvester.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@harvester.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		if err := c.Rcpt(to, nil); err == nil {
			t.Fatalf("unknown %s accepted", to)
		}
	}
	err = sendPlain(r.Addr().String(), "x@harvester.test", "alice@example.org", "Subject: x\r\n\r\nx\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 {
		t.Errorf("after 3 unknown recipients: %v, want 554", err)
	}
}
