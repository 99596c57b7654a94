package reputation

import (
	"context"
	"database/sql"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, db *sql.DB, c *clock) *Reputation {
	t.Helper()
	r, err := Open(context.Background(), db, Config{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "rep.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBlockAfterRepeatedSpam(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	db := newDB(t)
	r := open(t, db, c)
	ip := net.ParseIP("192.0.2.7")
	for i := 0; i < 4; i++ {
		if err := r.Record(ctx, ip, "Spammer.example.", EventSpam); err != nil {
			t.Fatal(err)
		}
	}
	if r.Blocked(ip) {
		t.Fatal("blocked after 8 points, threshold 10")
	}
	if err := r.Record(ctx, ip, "spammer.example", EventSpam); err != nil {
		t.Fatal(err)
	}
	if !r.Blocked(ip) || !r.DomainBlocked("SPAMMER.example") {
		t.Fatal("not blocked after 10 points")
	}
	if r.Blocked(net.ParseIP("192.0.2.8")) {
		t.Error("neighbour IPv4 address blocked")
	}
	// Restart: scores come back from SQLite.
	r2 := open(t, db, c)
	if !r2.Blocked(ip) {
		t.Error("block lost on reopen")
	}
	// One half-life later the score is 5: unblocked.
	c.t = c.t.Add(24 * time.Hour)
	if r2.Blocked(ip) {
		t.Error("still blocked after a half-life")
	}
	l := r2.List(0)
	if len(l) != 2 || math.Abs(l[0].Score-5) > 1e-9 || l[0].Events != 5 {
		t.Errorf("List = %+v", l)
	}
}

func TestIPv6GroupedBy64(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Unix(1e9, 0)}
	r := open(t, newDB(t), c)
	for i := 0; i < 4; i++ {
		ip := net.ParseIP("2001:db8:1:2::" + string(rune('a'+i)))
		if err := r.Record(ctx, ip, "", EventDMARCFail); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Blocked(net.ParseIP("2001:db8:1:2:ffff::1")) {
		t.Error("/64 not blocked after 4 DMARC failures from it")
	}
	if r.Blocked(net.ParseIP("2001:db8:1:3::1")) {
		t.Error("other /64 blocked")
	}
	if got := IPKey(netip.MustParseAddr("::ffff:192.0.2.1")); got != "192.0.2.1/32" {
		t.Errorf("IPKey(v4-mapped) = %s", got)
	}
}

func TestWriteCIDRsAndForget(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Unix(1e9, 0)}
	r := open(t, newDB(t), c)
	for _, s := range []string{"198.51.100.9", "192.0.2.1", "2001:db8::1"} {
		for i := 0; i < 2; i++ {
			if err := r.Record(ctx, net.ParseIP(s), "", EventDangerous); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Record(ctx, net.ParseIP("203.0.113.5"), "", EventSPFFail); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	n, err := r.WriteCIDRs(&b)
	if err != nil || n != 3 {
		t.Fatalf("WriteCIDRs = %d, %v", n, err)
	}
	if want := "192.0.2.1/32\n198.51.100.9/32\n2001:db8::/64\n"; b.String() != want {
		t.Errorf("WriteCIDRs wrote %q, want %q", b.String(), want)
	}
	if err := r.Forget(ctx, KindIP, "192.0.2.1/32"); err != nil {
		t.Fatal(err)
	}
	if r.Blocked(net.ParseIP("192.0.2.1")) {
		t.Error("blocked after Forget")
	}
	if err := r.Record(ctx, nil, "", "bogus"); err == nil {
		t.Error("unknown event accepted")
	}
	c.t = c.t.Add(30 * 24 * time.Hour)
	if n, err := r.Prune(ctx); err != nil || n != 3 {
		t.Errorf("Prune = %d, %v; want 3", n, err)
	}
}

// TestConcurrentRecordBlocked records and checks at once (meaningful under -race).
func TestConcurrentRecordBlocked(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Unix(1e9, 0)}
	r := open(t, newDB(t), c)
	ip := net.ParseIP("192.0.2.50")
	done := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; i < 5; i++ {
				if w%2 == 0 {
					if err := r.Record(ctx, ip, "x.example", EventSpam); err != nil {
						done <- err
						return
					}
				} else {
					r.Blocked(ip)
					r.List(0)
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if l := r.List(0); len(l) != 2 || l[0].Events != 10 || !r.Blocked(ip) {
		t.Errorf("after 10 concurrent spam events: %+v", l)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		key  string
	}{
		{"negative half-life", Config{HalfLife: -time.Hour}, "reputation.half_life"},
		{"negative threshold", Config{Threshold: -1}, "reputation.threshold"},
		{"unknown event", Config{Weights: map[Event]float64{"nope": 1}}, "reputation.weights"},
		{"negative weight", Config{Weights: map[Event]float64{EventSpam: -2}}, "reputation.weights.spam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.key) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.key)
			}
			if _, err := Open(context.Background(), newDB(t), tt.cfg); err == nil {
				t.Error("Open accepted an invalid config")
			}
		})
	}
	if err := (Config{Weights: map[Event]float64{EventSpam: 3}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
