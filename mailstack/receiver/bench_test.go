package receiver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/dkim"
	"scop/mailstack/dns"
)

// benchMessage is about 4.5 KB, like the corpus messages of the go-smtp
// reference figure in shared/notes/mail.md.
var benchMessage = "From: Sender <s@sender.test>\r\nTo: alice@example.org\r\nSubject: benchmark message\r\n" +
	"Message-ID: <bench@sender.test>\r\nDate: Sun, 22 Nov 2026 01:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
	strings.Repeat("The quick brown fox jumps over the lazy dog; a mail server measures its spool.\r\n", 55)

// benchReceiver starts an in-process receiver with the given checks.
func benchReceiver(b *testing.B, checks []check.Check, resolver dns.Resolver) string {
	b.Helper()
	data := b.TempDir()
	makeAccountsDB(b, filepath.Join(data, "homeserver.db"), "alice")
	db, err := OpenAccountsDB(filepath.Join(data, "homeserver.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cfg := mailstack.DefaultConfig()
	cfg.Limits.MaxCommands = 1 << 30
	r, err := New(Options{Config: cfg, DataDir: data, ServerName: "example.org", Mailboxes: &AccountsMailboxes{DB: db},
		Checks: checks, Resolver: resolver, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background(), "127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(context.Background()) })
	return r.Addr().String()
}

// runSenders sends b.N messages over conns parallel connections.
func runSenders(b *testing.B, addr string, conns int, msg string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if err := c.Hello("bench.test"); err != nil {
				b.Error(err)
				return
			}
			for next.Add(1) <= int64(b.N) {
				if err := sendOne(c, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

func sendOne(c *smtp.Client, msg string) error {
	if err := c.Mail("s@sender.test", nil); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.Rcpt("alice@example.org", nil); err != nil {
		return fmt.Errorf("rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// BenchmarkReceive measures accepted messages per second over 8
// connections into the durable spool (file + directory fsync before 250).
func BenchmarkReceive(b *testing.B) {
	addr := benchReceiver(b, []check.Check{}, nil)
	runSenders(b, addr, 8, benchMessage)
}

// BenchmarkReceiveAllChecks is BenchmarkReceive with every check on: SPF,
// DKIM (an Ed25519-signed message), DMARC, the Bayes filter (trained on a
// few generated messages) and reputation, over a map resolver.
func BenchmarkReceiveAllChecks(b *testing.B) {
	resolver, signOpts := chainWorld(b)
	r := chainReceiver(b, resolver, nil)
	ctx := context.Background()
	for i := range 12 {
		msg := fmt.Sprintf("From: t%d@train.test\r\nSubject: training %d\r\n\r\n%s\r\n", i, i, strings.Repeat(fmt.Sprintf("word%d filler text ", i), 30))
		if err := r.Checks.Spam.Learn(ctx, []byte(msg), i%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
	signed, err := dkim.SignMessage([]byte(benchMessage), signOpts)
	if err != nil {
		b.Fatal(err)
	}
	runSenders(b, r.Addr().String(), 8, string(signed))
}
