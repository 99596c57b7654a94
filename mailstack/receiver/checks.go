package receiver

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/dkim"
	"scop/mailstack/dmarc"
	"scop/mailstack/dns"
	"scop/mailstack/reputation"
	"scop/mailstack/spam"
	"scop/mailstack/spf"
)

// OpenMailDB opens (creating) the mail database, the SQLite file holding
// the spam filter's counts and the reputation scores, in WAL mode with
// full fsync.
func OpenMailDB(path string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// NewResolver builds the validating resolver from the mail.dns section:
// the configured upstreams (else /etc/resolv.conf's) and the trust anchor
// file (else the built-in root anchors).
func NewResolver(c mailstack.DNSConfig, dataDir string, log *slog.Logger) (*dns.ValidatingResolver, error) {
	cfg := dns.DefaultConfig()
	cfg.Logger = log
	if len(c.Upstreams) > 0 {
		cfg.Upstreams = c.Upstreams
	} else if ups, err := dns.SystemUpstreams("/etc/resolv.conf"); err == nil {
		cfg.Upstreams = ups
	}
	if c.TrustAnchor != "" {
		anchors, err := dns.LoadTrustAnchors(abs(dataDir, c.TrustAnchor))
		if err != nil {
			return nil, err
		}
		cfg.TrustAnchors = anchors
	}
	r, err := dns.NewValidatingResolver(cfg)
	if err != nil {
		return nil, fmt.Errorf("mail.dns: %w", err)
	}
	return r, nil
}

// Checks are the message checks built from mail.checks, and what they
// hold for the admin commands.
type Checks struct {
	List       []check.Check
	Spam       *spam.Filter           // nil when checks.spam is off
	Reputation *reputation.Reputation // nil when checks.reputation is off
}

// BuildChecks assembles the pipeline in its order: reputation (refuses
// blocked IPs at connect, scores each outcome), SPF, DKIM, DMARC (which
// uses both), then the spam filter. db is the mail database.
func BuildChecks(ctx context.Context, cfg mailstack.Config, resolver dns.Resolver, db *sql.DB, log *slog.Logger) (*Checks, error) {
	c := &Checks{}
	ch := cfg.Checks
	if ch.Reputation {
		rep, err := reputation.Open(ctx, db, cfg.Reputation)
		if err != nil {
			return nil, err
		}
		c.Reputation = rep
		c.List = append(c.List, &check.ReputationCheck{Rep: rep, Log: log})
	}
	if (ch.SPF || ch.DKIM || ch.DMARC) && resolver == nil {
		return nil, fmt.Errorf("mail.checks: SPF, DKIM and DMARC need a resolver")
	}
	if ch.SPF {
		c.List = append(c.List, &check.SPFCheck{Resolver: resolver, Config: spf.Config{Receiver: cfg.Hostname}})
	}
	if ch.DKIM {
		c.List = append(c.List, &check.DKIMCheck{Verifier: &dkim.Verifier{Resolver: resolver}})
	}
	if ch.DMARC {
		c.List = append(c.List, &check.DMARCCheck{Evaluator: &dmarc.Evaluator{Resolver: resolver}})
	}
	if ch.Spam {
		f, err := OpenSpamFilter(ctx, cfg, db)
		if err != nil {
			return nil, err
		}
		c.Spam = f
		c.List = append(c.List, &check.SpamCheck{Filter: f})
	}
	return c, nil
}

// OpenSpamFilter loads the Bayes filter from the mail database with the
// mail.spam settings.
func OpenSpamFilter(ctx context.Context, cfg mailstack.Config, db *sql.DB) (*spam.Filter, error) {
	store, err := spam.NewSQLiteStore(ctx, db)
	if err != nil {
		return nil, err
	}
	f, err := spam.New(ctx, store, cfg.Spam)
	if err != nil {
		return nil, err
	}
	return f, nil
}
