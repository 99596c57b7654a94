// Package receiver assembles SCoP's mail receiver from a mailstack.Config:
// spool, LMTP deliverer, check pipeline, TLS certificate and SMTP server.
// Both `scop serve` (when mail.enabled) and `scop mail receive` use it.
package receiver

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/dns"
	"scop/mailstack/smtpserver"
	"scop/mailstack/spool"
)

// Options configure a Receiver.
type Options struct {
	Config mailstack.Config
	// DataDir anchors relative paths of Config (spool, certificates).
	DataDir string
	// ServerName is the homeserver's name: the default mail domain and
	// hostname.
	ServerName string
	// Mailboxes says which local parts exist (the homeserver's accounts).
	Mailboxes smtpserver.Mailboxes
	// Checks, when not nil, replace the checks built from Config.Checks
	// (tests and benchmarks).
	Checks []check.Check
	// Resolver replaces the validating resolver built from Config.DNS
	// (tests use a dnstest.MapResolver).
	Resolver dns.Resolver
	// MailDB is the mail database (spam counts, reputation); nil opens
	// Config.Database in DataDir.
	MailDB *sql.DB
	Log    *slog.Logger
}

// Receiver is the assembled mail receiver.
type Receiver struct {
	Spool  *spool.Spool
	Server *smtpserver.Server
	// Checks holds the built checks (nil when Options.Checks was given).
	Checks *Checks
	cfg    mailstack.Config
	log    *slog.Logger
	deliv  *spool.Deliverer

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeDB func() error
}

// New builds a Receiver; nothing listens until Start.
func New(opts Options) (*Receiver, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "mail")
	host := cfg.Hostname
	if host == "" {
		host = hostOnly(opts.ServerName)
	}
	if host == "" {
		return nil, errors.New("receiver: no hostname and no server_name")
	}
	domains := []string{strings.ToLower(hostOnly(opts.ServerName))}
	if domains[0] == "" {
		domains = nil
	}
	for _, d := range cfg.Domains {
		domains = append(domains, strings.ToLower(d))
	}
	sp, err := spool.Open(abs(opts.DataDir, cfg.SpoolDir), log)
	if err != nil {
		return nil, err
	}
	r := &Receiver{cfg: cfg, log: log, closeDB: func() error { return nil }}
	built := false
	defer func() {
		if !built { // release the spool lock and the database on failure
			sp.Close()
			r.closeDB()
		}
	}()
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		certFile, keyFile = "mail/tls/cert.pem", "mail/tls/key.pem"
	}
	cert, err := smtpserver.LoadOrCreateCert(abs(opts.DataDir, certFile), abs(opts.DataDir, keyFile), host)
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	checks := opts.Checks
	if checks == nil {
		db := opts.MailDB
		if db == nil {
			if db, err = OpenMailDB(abs(opts.DataDir, cfg.Database)); err != nil {
				return nil, fmt.Errorf("receiver: %w", err)
			}
			r.closeDB = db.Close
		}
		resolver := opts.Resolver
		if resolver == nil && (cfg.Checks.SPF || cfg.Checks.DKIM || cfg.Checks.DMARC) {
			vr, err := NewResolver(cfg.DNS, opts.DataDir, log)
			if err != nil {
				return nil, err
			}
			resolver = vr
		}
		cfg.Hostname = host // SPF's %{r}
		if r.Checks, err = BuildChecks(context.Background(), cfg, resolver, db, log); err != nil {
			return nil, fmt.Errorf("receiver: %w", err)
		}
		checks = r.Checks.List
	}
	authserv := cfg.AuthServID
	if authserv == "" {
		authserv = host
	}
	srv, err := smtpserver.New(smtpserver.Options{
		Hostname:   host,
		AuthServID: authserv,
		Domains:    domains,
		Aliases:    lowerKeys(cfg.Aliases),
		Mailboxes:  opts.Mailboxes,
		Limits:     cfg.Limits,
		Pipeline:   &check.Pipeline{Checks: checks, Log: log},
		Spool:      sp,
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Log:        log,
	})
	if err != nil {
		return nil, err
	}
	network, addr, _ := mailstack.ParseLMTPTarget(cfg.LMTP)
	r.Spool, r.Server = sp, srv
	if addr != "" {
		r.deliv = &spool.Deliverer{Spool: sp, Network: network, Addr: addr, LocalName: host, Retry: cfg.Retry, Log: log}
	}
	built = true
	return r, nil
}

// Start binds the SMTP listener (Config.Listen, or listen when not empty)
// and starts serving and delivering in the background.
func (r *Receiver) Start(ctx context.Context, listen string) error {
	if listen == "" {
		listen = r.cfg.Listen
	}
	if err := r.Server.Listen(listen); err != nil {
		return err
	}
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.wg.Go(func() {
		if err := r.Server.Serve(nil); err != nil {
			r.log.Error("smtp server stopped", "err", err)
		}
	})
	if r.deliv != nil {
		r.wg.Go(func() { r.deliv.Run(ctx) })
	}
	r.log.Info("mail receiver listening", "addr", r.Addr().String(), "lmtp", r.cfg.LMTP)
	return nil
}

// Addr is the bound SMTP address (after Start).
func (r *Receiver) Addr() net.Addr { return r.Server.Addr() }

// Close stops accepting, lets sessions finish until ctx is done, then stops
// delivery.
func (r *Receiver) Close(ctx context.Context) error {
	err := r.Server.Shutdown(ctx)
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if cerr := r.Spool.Close(); err == nil {
		err = cerr
	}
	if cerr := r.closeDB(); err == nil {
		err = cerr
	}
	return err
}

func abs(dataDir, p string) string {
	if filepath.IsAbs(p) || dataDir == "" {
		return p
	}
	return filepath.Join(dataDir, p)
}

// hostOnly drops a port from a server name ("example.org:8448").
func hostOnly(name string) string {
	if h, _, err := net.SplitHostPort(name); err == nil {
		return h
	}
	return name
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// Mailboxes is the receiver's view of which mailboxes exist.
type Mailboxes = smtpserver.Mailboxes
