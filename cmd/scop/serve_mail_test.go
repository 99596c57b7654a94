package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestServeRunsMailReceiver checks that `scop serve` with mail.enabled
// runs the SMTP receiver in the same process: it is in listen.json,
// accepts mail for a local account and refuses unknown mailboxes.
func TestServeRunsMailReceiver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	// No DNS here: the DNS-based checks are off; the spool and the
	// mailbox lookup in the homeserver's accounts are what is tested.
	cfg := "server_name: example.test\naccounts:\n  bcrypt_cost: 4\n" +
		"mail:\n  enabled: true\n  checks:\n    spf: false\n    dkim: false\n    dmarc: false\n"
	if err := os.WriteFile(filepath.Join(dir, "scop.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runScop(t, "pw-bob-123\n", "user", "add", "bob", "--data", dir); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	startServe(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, "listen.json"))
	if err != nil {
		t.Fatal(err)
	}
	var addrs struct{ SMTP string }
	if err := json.Unmarshal(data, &addrs); err != nil || addrs.SMTP == "" {
		t.Fatalf("listen.json has no smtp address: %s (%v)", data, err)
	}

	msg := "From: alice@sender.test\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\nHello Bob.\r\n"
	tests := []struct {
		name, rcpt string
		wantCode   int // 0: accepted
	}{
		{"LocalAccount", "bob@example.test", 0},
		{"UnknownMailbox", "nobody@example.test", 550},
		{"OtherDomainNotRelayed", "bob@elsewhere.test", 550},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sendPlain(addrs.SMTP, "alice@sender.test", tc.rcpt, msg)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("send to %s: %v", tc.rcpt, err)
				}
				return
			}
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tc.wantCode {
				t.Fatalf("send to %s: %v, want code %d", tc.rcpt, err, tc.wantCode)
			}
		})
	}
	out, err := runScop(t, "", "mail", "queue", "--data", dir)
	if err != nil || !strings.Contains(out, "bob@example.test") {
		t.Errorf("scop mail queue does not list the accepted message: %v\n%s", err, out)
	}
}

// sendPlain sends one message without STARTTLS (the receiver's dev
// certificate is self-signed) and returns the first failure.
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
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
