package receiver

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/dns/dnstest"
	"scop/mailstack/spool"
)

// makeAccountsDB creates a homeserver-like database with the accounts
// table of homeserver/accounts/sqlitestore and the given users.
func makeAccountsDB(t testing.TB, path string, users ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE accounts_users (localpart TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
		is_admin INTEGER NOT NULL DEFAULT 0, display_name TEXT NOT NULL DEFAULT '', avatar_url TEXT NOT NULL DEFAULT '',
		created_ts INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := db.Exec(`INSERT INTO accounts_users (localpart, password_hash, created_ts) VALUES (?, 'x', 0)`, u); err != nil {
			t.Fatal(err)
		}
	}
}

// lmtpSink records what it receives over LMTP.
type lmtpSink struct {
	mu   sync.Mutex
	got  map[string][]string
	seen chan struct{}
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
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	for _, rc := range s.rcpts {
		s.k.got[rc] = append(s.k.got[rc], string(b))
	}
	s.k.mu.Unlock()
	s.k.seen <- struct{}{}
	return nil
}

func TestReceiveAndDeliverOverLMTP(t *testing.T) {
	sink := &lmtpSink{got: map[string][]string{}, seen: make(chan struct{}, 10)}
	ls := smtp.NewServer(sink)
	ls.LMTP = true
	ls.Domain = "bridge.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ls.Serve(l)
	defer ls.Close()

	data := t.TempDir()
	accounts := filepath.Join(data, "homeserver.db")
	makeAccountsDB(t, accounts, "alice")
	db, err := OpenAccountsDB(accounts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	cfg := mailstack.DefaultConfig()
	cfg.LMTP = "tcp:" + l.Addr().String()
	cfg.Aliases = map[string]string{"Postmaster": "alice"}
	cfg.Domains = []string{"mail.example.org"}
	r, err := New(Options{Config: cfg, DataDir: data, ServerName: "example.org:8448", Mailboxes: &AccountsMailboxes{DB: db},
		Resolver: &dnstest.MapResolver{},
		Log:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	c, err := smtp.Dial(r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered with the generated certificate")
	}
	if err := c.SendMail("s@sender.test", []string{"alice@example.org", "postmaster@mail.example.org"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("s@sender.test", []string{"bob@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 {
		t.Errorf("unknown account: %v, want 550", err)
	}
	select {
	case <-sink.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered over LMTP")
	}
	sink.mu.Lock()
	got := sink.got["alice@example.org"]
	sink.mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "Received: from client.test") || !strings.Contains(got[0], "\r\n\r\nhello\r\n") {
		t.Errorf("delivered = %q", got)
	}
	// Delivered messages leave the spool.
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, _ := r.Spool.List()
		if len(items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool not emptied: %+v", items)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneReceiverPerSpool: a second receiver on the same data folder is
// refused instead of corrupting the first one's journal.
func TestOneReceiverPerSpool(t *testing.T) {
	data := t.TempDir()
	cfg := mailstack.DefaultConfig()
	opts := Options{Config: cfg, DataDir: data, ServerName: "example.org", Mailboxes: &AccountsMailboxes{}, Checks: []check.Check{}}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Spool.Close()
	if _, err := New(opts); !errors.Is(err, spool.ErrLocked) {
		t.Errorf("second New = %v, want spool.ErrLocked", err)
	}
}
