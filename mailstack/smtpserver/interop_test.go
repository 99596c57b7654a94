package smtpserver

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needTool returns the path of an outside tool, skipping the test when it
// is absent, except under CI=true where a missing tool is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package needed in CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func tlsOpts(t *testing.T) func(*Options) {
	cert, err := SelfSignedCert("mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) { o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} }
}

// TestSwaks sends with swaks, a real SMTP client: plain, STARTTLS,
// pipelining, 8-bit and UTF-8 content (swaks 20201014 has no BDAT).
func TestSwaks(t *testing.T) {
	swaks := needTool(t, "swaks")
	addr, sp := testServer(t, tlsOpts(t))
	host, port, _ := net.SplitHostPort(addr)
	base := []string{"--server", host, "--port", port, "--helo", "client.test", "--from", "s@sender.test", "--to", "alice@example.org"}
	tests := []struct {
		name string
		args []string
		want string // in the spooled message
	}{
		{"Plain", []string{"--header", "Subject: plain"}, "Subject: plain"},
		{"STARTTLS", []string{"-tls", "--header", "Subject: tls"}, "with ESMTPS"},
		{"Pipelining", []string{"--pipeline", "--header", "Subject: pipelined"}, "Subject: pipelined"},
		{"EightBit", []string{"--header", "Subject: 8bit", "--body", "Grüße, señor — ünïcödé ✓"}, "Grüße, señor"},
		{"TwoRecipients", []string{"--to", "alice@example.org,bob@example.org", "--header", "Subject: two"}, "Subject: two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, base...), tt.args...)
			out, err := exec.Command(swaks, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("swaks %v: %v\n%s", tt.args, err, out)
			}
			found := false
			for _, m := range spooled(t, sp) {
				found = found || strings.Contains(m, tt.want)
			}
			if !found {
				t.Errorf("no spooled message contains %q; swaks said:\n%s", tt.want, out)
			}
		})
	}
	t.Run("UnknownRecipient", func(t *testing.T) {
		args := append(append([]string{}, base[:len(base)-1]...), "nobody@example.org")
		out, _ := exec.Command(swaks, args...).CombinedOutput()
		if !strings.Contains(string(out), "550 5.1.1") {
			t.Errorf("swaks to an unknown mailbox did not see 550 5.1.1:\n%s", out)
		}
	})
	t.Run("RelayDenied", func(t *testing.T) {
		args := append(append([]string{}, base[:len(base)-1]...), "someone@elsewhere.test")
		out, _ := exec.Command(swaks, args...).CombinedOutput()
		if !strings.Contains(string(out), "550 5.7.1") {
			t.Errorf("swaks relay attempt did not see 550 5.7.1:\n%s", out)
		}
	})
}

// TestSmtpSource drives the receiver with Postfix's smtp-source load
// generator (a real SMTP client from the postfix package): 4 parallel sessions,
// 40 messages.
func TestSmtpSource(t *testing.T) {
	src := needTool(t, "smtp-source")
	addr, sp := testServer(t)
	out, err := exec.Command(src, "-s", "4", "-m", "40", "-r", "1", "-f", "s@sender.test", "-t", "alice@example.org",
		"-S", "smtp-source test", "-l", "2000", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	if n := len(spooled(t, sp)); n != 40 {
		t.Errorf("spool has %d messages, want 40; smtp-source said:\n%s", n, out)
	}
}
