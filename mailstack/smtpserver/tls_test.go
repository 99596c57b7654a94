package smtpserver

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSTARTTLSBigMessages: after STARTTLS the command scanner must not
// read ciphertext as commands; large messages go through.
func TestSTARTTLSBigMessages(t *testing.T) {
	addr, sp := testServer(t, tlsOpts(t))
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", 12000)
	for i := range 3 {
		if err := c.SendMail("s@sender.test", []string{"bob@example.org"}, strings.NewReader("Subject: big\r\n\r\n"+body)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := len(spooled(t, sp)); n != 3 {
		t.Errorf("spooled %d, want 3", n)
	}
}

// TestSTARTTLSCommandLimit: over TLS the session counts MAIL and RCPT
// against max_commands and ends the connection past it.
func TestSTARTTLSCommandLimit(t *testing.T) {
	addr, _ := testServer(t, tlsOpts(t))
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *smtp.SMTPError
	for i := range 60 {
		err := c.Mail("s@sender.test", nil)
		if err == nil {
			continue
		}
		if !errors.As(err, &se) || se.Code != 421 || i < 45 {
			t.Fatalf("MAIL %d: %v, want 421 near the 50-command limit (EHLO and STARTTLS count)", i, err)
		}
		return
	}
	t.Fatal("60 MAIL commands over TLS all accepted")
}

// TestMaxSessionTime: a connection is closed when its time is up.
func TestMaxSessionTime(t *testing.T) {
	addr, _ := testServer(t, func(o *Options) { o.Limits.MaxSessionTime = 200 * time.Millisecond })
	r := dialRaw(t, addr)
	r.cmd("EHLO c.test", "250")
	for {
		r.send("NOOP\r\n")
		if _, err := r.reply(); err != nil {
			return // closed by the server
		}
	}
}
