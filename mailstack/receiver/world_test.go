package receiver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scop/mailstack"
	"scop/mailstack/dkim"
	"scop/mailstack/dns/dnstest"
)

// TestChainOverSignedDNS runs the receiver as configured in production
// (the validating resolver built from mail.dns: upstream and trust anchor
// file) against dnstest's DNSSEC-signed world on loopback: a message from
// a signed zone passes SPF, DKIM (key DNSSEC-validated) and DMARC; one
// whose SPF record has a corrupt signature gets spf=temperror.
func TestChainOverSignedDNS(t *testing.T) {
	key, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.KeyRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	w := dnstest.NewWorld(t,
		`mx.secure.test. TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`sel._domainkey.mx.secure.test. TXT "`+rec+`"`,
		`_dmarc.mx.secure.test. TXT "v=DMARC1; p=reject"`,
		`badsig.bogus.test. TXT "v=spf1 +all"`,
	)
	data := t.TempDir()
	anchors := filepath.Join(data, "root.key")
	if err := os.WriteFile(anchors, []byte(strings.Join(w.Anchors, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	makeAccountsDB(t, filepath.Join(data, "homeserver.db"), "alice")
	db, err := OpenAccountsDB(filepath.Join(data, "homeserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := mailstack.DefaultConfig()
	cfg.Hostname = "mx.example.org"
	cfg.DNS = mailstack.DNSConfig{Upstreams: []string{w.Addr}, TrustAnchor: "root.key"}
	r, err := New(Options{Config: cfg, DataDir: data, ServerName: "example.org", Mailboxes: &AccountsMailboxes{DB: db},
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	signed, err := dkim.SignMessage([]byte("From: s@mx.secure.test\r\nTo: alice@example.org\r\nSubject: signed\r\n\r\nhello\r\n"),
		dkim.SignOptions{Domain: "mx.secure.test", Selector: "sel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := sendPlain(r.Addr().String(), "s@mx.secure.test", "alice@example.org", string(signed)); err != nil {
		t.Fatal(err)
	}
	if err := sendPlain(r.Addr().String(), "x@badsig.bogus.test", "alice@example.org", "From: x@badsig.bogus.test\r\nSubject: bogus\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	msgs := spooledText(t, r)
	if len(msgs) != 2 {
		t.Fatalf("%d messages spooled, want 2", len(msgs))
	}
	want := map[string][]string{
		"Subject: signed": {"spf=pass", "dkim=pass reason=\"key DNSSEC-validated\"", "header.d=mx.secure.test", "dmarc=pass"},
		"Subject: bogus":  {"spf=temperror"},
	}
	for subject, ws := range want {
		var got string
		for _, m := range msgs {
			if strings.Contains(m, subject) {
				got = m
			}
		}
		for _, w := range ws {
			if !strings.Contains(got, w) {
				t.Errorf("%s: lacks %q:\n%s", subject, w, got)
			}
		}
	}
}
