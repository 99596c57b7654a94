// Package reputation scores senders that misbehave: client IP addresses
// (IPv6 grouped by /64) and sender domains gain points for each SPF or
// DMARC failure and each message classified as spam, points that halve
// every HalfLife. Over Threshold an address is refused at connect and
// listed for the firewall. Scores are kept in memory for the per-connection
// check and written through to SQLite.
package reputation

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is a misbehaviour observed for a sender.
type Event string

// The events the receiver reports.
const (
	EventSPFFail   Event = "spf-fail"   // SPF fail (not softfail)
	EventDMARCFail Event = "dmarc-fail" // DMARC fail with a quarantine or reject policy
	EventSpam      Event = "spam"       // classified as spam
	EventDangerous Event = "dangerous"  // dangerous attachment
	EventRejected  Event = "rejected"   // other reason the receiver refused a message
)

// Kind tells which sender identity an entry scores.
type Kind string

// The kinds of sender identity scored.
const (
	KindIP     Kind = "ip"
	KindDomain Kind = "domain"
)

// Config tunes scoring (the `reputation:` section of scop.yaml). The zero
// value of a field means its default.
type Config struct {
	// HalfLife is how fast scores decay; default 24h.
	HalfLife time.Duration `yaml:"half_life"`
	// Threshold is the score at which a sender is blocked; default 10.
	Threshold float64 `yaml:"threshold"`
	// Weights are the points per event; missing events use DefaultWeights.
	Weights map[Event]float64 `yaml:"weights"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `yaml:"-"`
}

// Validate reports the first setting out of range, by its YAML key.
func (c Config) Validate() error {
	if c.HalfLife < 0 {
		return fmt.Errorf("reputation.half_life %v: want > 0", c.HalfLife)
	}
	if c.Threshold < 0 {
		return fmt.Errorf("reputation.threshold %v: want > 0", c.Threshold)
	}
	for ev, w := range c.Weights {
		if _, ok := DefaultWeights[ev]; !ok {
			return fmt.Errorf("reputation.weights: unknown event %q", ev)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("reputation.weights.%s %v: want >= 0", ev, w)
		}
	}
	return nil
}

// DefaultWeights: a spam run of 5 messages from one IP within a few hours
// blocks it, as do 4 DMARC failures; single SPF slips do not.
var DefaultWeights = map[Event]float64{
	EventSPFFail:   1,
	EventDMARCFail: 2.5,
	EventSpam:      2,
	EventDangerous: 5,
	EventRejected:  1,
}

// Entry is one scored sender.
type Entry struct {
	Kind Kind
	// Key is a prefix for IPs ("192.0.2.7/32", "2001:db8::/64") or a domain.
	Key string
	// Score is decayed to the time of the call.
	Score    float64
	Events   int
	LastSeen time.Time
	Blocked  bool
}

type entry struct {
	score   float64
	updated time.Time // when score was last brought up to date
	events  int
}

// Reputation holds the scores. It is safe for concurrent use.
type Reputation struct {
	db  *sql.DB
	cfg Config

	writeMu sync.Mutex
	mu      sync.RWMutex
	entries map[string]*entry // "kind\x00key"
}

// Open creates the table if needed and loads every score.
func Open(ctx context.Context, db *sql.DB, cfg Config) (*Reputation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = 24 * time.Hour
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := map[Event]float64{}
	for k, v := range DefaultWeights {
		w[k] = v
	}
	for k, v := range cfg.Weights {
		w[k] = v
	}
	cfg.Weights = w
	if err := migrate(ctx, db); err != nil {
		return nil, err
	}
	r := &Reputation{db: db, cfg: cfg, entries: map[string]*entry{}}
	rows, err := db.QueryContext(ctx, `SELECT kind, key, score, updated, events FROM reputation`)
	if err != nil {
		return nil, fmt.Errorf("reputation: load: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, key string
		var e entry
		var updated int64
		if err := rows.Scan(&kind, &key, &e.score, &updated, &e.events); err != nil {
			return nil, fmt.Errorf("reputation: load: %w", err)
		}
		e.updated = time.Unix(0, updated)
		r.entries[kind+"\x00"+key] = &e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reputation: load: %w", err)
	}
	return r, nil
}

// IPKey returns the key an address is scored under: the address itself
// for IPv4, its /64 for IPv6 (one customer's allocation).
func IPKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32).String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// Record adds ev's points to the client address ip and, if not empty, to
// the sender domain. Either may be the zero value / empty.
func (r *Reputation) Record(ctx context.Context, ip net.IP, domain string, ev Event) error {
	pts, ok := r.cfg.Weights[ev]
	if !ok {
		return fmt.Errorf("reputation: unknown event %q", ev)
	}
	if addr, ok := netip.AddrFromSlice(ip); ok {
		if err := r.add(ctx, KindIP, IPKey(addr), pts); err != nil {
			return err
		}
	}
	if d := normDomain(domain); d != "" {
		if err := r.add(ctx, KindDomain, d, pts); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reputation) add(ctx context.Context, kind Kind, key string, pts float64) error {
	// writeMu serializes writers; mu is held only to touch the map, so the
	// per-connection Blocked check never waits for a disk write.
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	now := r.cfg.Now()
	id := string(kind) + "\x00" + key
	r.mu.RLock()
	e := r.entries[id]
	r.mu.RUnlock()
	next := entry{score: pts, updated: now, events: 1}
	if e != nil {
		next = entry{score: r.decay(e, now) + pts, updated: now, events: e.events + 1}
	}
	// Write first: the memory reflects only what is committed.
	if _, err := r.db.ExecContext(ctx, `INSERT INTO reputation (kind, key, score, updated, events) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET score = excluded.score, updated = excluded.updated, events = excluded.events`,
		string(kind), key, next.score, next.updated.UnixNano(), next.events); err != nil {
		return fmt.Errorf("reputation: record %s %s: %w", kind, key, err)
	}
	r.mu.Lock()
	r.entries[id] = &next
	r.mu.Unlock()
	return nil
}

// decay returns e's score at now.
func (r *Reputation) decay(e *entry, now time.Time) float64 {
	dt := now.Sub(e.updated)
	if dt <= 0 {
		return e.score
	}
	return e.score * math.Exp2(-float64(dt)/float64(r.cfg.HalfLife))
}

func (r *Reputation) blocked(kind Kind, key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.entries[string(kind)+"\x00"+key]
	return e != nil && r.decay(e, r.cfg.Now()) >= r.cfg.Threshold
}

// Blocked reports whether connections from ip should be refused (554).
// It only reads memory: cheap enough for every connection.
func (r *Reputation) Blocked(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return r.blocked(KindIP, IPKey(addr))
}

// DomainBlocked reports whether mail from domain should be refused.
func (r *Reputation) DomainBlocked(domain string) bool {
	return r.blocked(KindDomain, normDomain(domain))
}

// List returns every entry with a score of at least min, highest first.
func (r *Reputation) List(min float64) []Entry {
	now := r.cfg.Now()
	r.mu.RLock()
	var out []Entry
	for id, e := range r.entries {
		s := r.decay(e, now)
		if s < min {
			continue
		}
		kind, key, _ := strings.Cut(id, "\x00")
		out = append(out, Entry{Kind: Kind(kind), Key: key, Score: s, Events: e.events,
			LastSeen: e.updated, Blocked: s >= r.cfg.Threshold})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// WriteCIDRs writes the blocked IP prefixes, one CIDR per line in address
// order, for a firewall set (nftables, ipset). It returns how many it wrote.
func (r *Reputation) WriteCIDRs(w io.Writer) (int, error) {
	var ps []netip.Prefix
	for _, e := range r.List(r.cfg.Threshold) {
		if e.Kind != KindIP {
			continue
		}
		p, err := netip.ParsePrefix(e.Key)
		if err != nil {
			continue // not ours: skip rather than emit junk into a firewall
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, p := range ps {
		if _, err := fmt.Fprintln(w, p.String()); err != nil {
			return 0, fmt.Errorf("reputation: write cidrs: %w", err)
		}
	}
	return len(ps), nil
}

// Forget removes an entry, e.g. after an operator unblocks a sender.
func (r *Reputation) Forget(ctx context.Context, kind Kind, key string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.db.ExecContext(ctx, `DELETE FROM reputation WHERE kind = ? AND key = ?`, string(kind), key); err != nil {
		return fmt.Errorf("reputation: forget %s %s: %w", kind, key, err)
	}
	delete(r.entries, string(kind)+"\x00"+key)
	return nil
}

// Prune deletes entries whose score decayed below 0.01, and returns how many.
func (r *Reputation) Prune(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, e := range r.entries {
		if r.decay(e, now) >= 0.01 {
			continue
		}
		kind, key, _ := strings.Cut(id, "\x00")
		if _, err := r.db.ExecContext(ctx, `DELETE FROM reputation WHERE kind = ? AND key = ?`, kind, key); err != nil {
			return n, fmt.Errorf("reputation: prune: %w", err)
		}
		delete(r.entries, id)
		n++
	}
	return n, nil
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// migrate creates the table, recording version 1 of set "reputation" in
// schema_migrations (shared with homeserver/storage/sqlite.Migrate).
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (set_name, version))`); err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE set_name = 'reputation' AND version = 1`).Scan(&n); err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	if n > 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE reputation (
		kind    TEXT NOT NULL,     -- ip or domain
		key     TEXT NOT NULL,     -- CIDR or domain
		score   REAL NOT NULL,     -- score at updated
		updated INTEGER NOT NULL,  -- unix nanoseconds
		events  INTEGER NOT NULL,
		PRIMARY KEY (kind, key))`); err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version) VALUES ('reputation', 1)`); err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reputation: migrate: %w", err)
	}
	return nil
}
