package mailstack

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"scop/mailstack/reputation"
	"scop/mailstack/spam"
)

// Config is the `mail:` section of scop.yaml: the SMTP receiver, its
// checks and its spool. The zero value is not useful; start from
// DefaultConfig. Relative paths are relative to the data folder.
type Config struct {
	// Enabled starts the receiver inside `scop serve`.
	Enabled bool `yaml:"enabled"`
	// Listen is the SMTP address, host:port.
	Listen string `yaml:"listen"`
	// Hostname is the name in the greeting and in Received headers; empty
	// means the homeserver's server_name.
	Hostname string `yaml:"hostname"`
	// AuthServID is the authserv-id of our Authentication-Results headers
	// (RFC 8601 §2.5); empty means Hostname.
	AuthServID string `yaml:"authserv_id"`
	// Domains are mail domains accepted besides the server_name.
	Domains []string `yaml:"domains"`
	// Aliases maps a local part (or a full address) to a mailbox local part.
	Aliases map[string]string `yaml:"aliases"`
	// TLSCert and TLSKey are PEM files for STARTTLS; when both are empty a
	// self-signed certificate is generated into the data folder.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// SpoolDir holds accepted messages until LMTP delivery succeeds.
	SpoolDir string `yaml:"spool_dir"`
	// Database is the mail SQLite file: spam filter counts, reputation.
	Database string `yaml:"database"`
	// LMTP is the delivery target: "tcp:host:port", "unix:/path" or a bare
	// host:port. Empty keeps messages in the spool (scop mail queue).
	LMTP string `yaml:"lmtp"`
	// Limits bounds what one client can make us do.
	Limits Limits `yaml:"limits"`
	// Retry is the LMTP delivery retry schedule.
	Retry Retry `yaml:"retry"`
	// DNS configures the validating resolver used by SPF, DKIM and DMARC.
	DNS DNSConfig `yaml:"dns"`
	// Checks selects the message checks.
	Checks Checks `yaml:"checks"`
	// Spam tunes the Bayes filter (mailstack/spam).
	Spam spam.Config `yaml:"spam"`
	// Reputation tunes sender scoring (mailstack/reputation).
	Reputation reputation.Config `yaml:"reputation"`
}

// Limits are the receiver's resource bounds. go-smtp treats zero as
// unlimited; Validate refuses zeros so every limit is explicit.
type Limits struct {
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	MaxRecipients   int   `yaml:"max_recipients"`
	MaxLineLength   int   `yaml:"max_line_length"`
	MaxConnections  int   `yaml:"max_connections"`
	MaxConnsPerIP   int   `yaml:"max_connections_per_ip"`
	MaxCommands     int   `yaml:"max_commands"`
	// MaxDataMemory bounds the message bytes held in memory by all
	// sessions at once; a session waits for room before reading DATA.
	MaxDataMemory int64 `yaml:"max_data_memory"`
	// MaxSessionTime ends any connection older than this: commands that
	// never reach the session (NOOP) cannot be counted once encrypted.
	MaxSessionTime time.Duration `yaml:"max_session_time"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
}

// Retry is an exponential backoff: Initial, multiplied by Factor after each
// failed attempt, capped at Max; a message still undelivered after MaxAge
// becomes a dead letter.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	Factor  float64       `yaml:"factor"`
	MaxAge  time.Duration `yaml:"max_age"`
}

// DNSConfig points the validating resolver at its upstreams.
type DNSConfig struct {
	// Upstreams are host:port of recursive resolvers; empty means the
	// system's (/etc/resolv.conf).
	Upstreams []string `yaml:"upstreams"`
	// TrustAnchor is a file of DS or DNSKEY records for the root; empty
	// means the built-in root anchor.
	TrustAnchor string `yaml:"trust_anchor"`
}

// Checks selects the per-message checks; the spam filter and reputation
// are tuned in their own sections (Config.Spam, Config.Reputation).
type Checks struct {
	SPF   bool `yaml:"spf"`
	DKIM  bool `yaml:"dkim"`
	DMARC bool `yaml:"dmarc"`
	// Spam runs the Bayes filter (X-Spam-Status; never rejects).
	Spam bool `yaml:"spam"`
	// Reputation scores misbehaving senders and refuses connections (554)
	// from an IP whose decaying score reaches reputation.threshold.
	Reputation bool `yaml:"reputation"`
}

// DefaultConfig is the receiver's development default.
func DefaultConfig() Config {
	return Config{
		Enabled:  false,
		Listen:   "127.0.0.1:2525",
		SpoolDir: "mail/spool",
		Database: "mail.db",
		Limits: Limits{
			MaxMessageBytes: 32 << 20,
			MaxRecipients:   100,
			MaxLineLength:   4000,
			MaxConnections:  200,
			MaxConnsPerIP:   10,
			MaxCommands:     1000,
			MaxDataMemory:   512 << 20,
			MaxSessionTime:  time.Hour,
			ReadTimeout:     5 * time.Minute,
			WriteTimeout:    time.Minute,
		},
		Retry:      Retry{Initial: time.Minute, Max: time.Hour, Factor: 2, MaxAge: 5 * 24 * time.Hour},
		Checks:     Checks{SPF: true, DKIM: true, DMARC: true, Spam: true, Reputation: true},
		Spam:       spam.DefaultConfig(),
		Reputation: reputation.Config{HalfLife: 24 * time.Hour, Threshold: 10},
	}
}

// Validate reports the first invalid field, named by its YAML key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("mail.listen: %w", err)
	}
	l := c.Limits
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"max_message_bytes", l.MaxMessageBytes}, {"max_recipients", int64(l.MaxRecipients)},
		{"max_line_length", int64(l.MaxLineLength)}, {"max_connections", int64(l.MaxConnections)},
		{"max_connections_per_ip", int64(l.MaxConnsPerIP)}, {"max_commands", int64(l.MaxCommands)},
		{"read_timeout", int64(l.ReadTimeout)}, {"write_timeout", int64(l.WriteTimeout)},
		{"max_data_memory", l.MaxDataMemory}, {"max_session_time", int64(l.MaxSessionTime)},
	} {
		if f.v <= 0 {
			return fmt.Errorf("mail.limits.%s: must be positive", f.key)
		}
	}
	if l.MaxDataMemory < l.MaxMessageBytes {
		return errors.New("mail.limits.max_data_memory: must be at least max_message_bytes")
	}
	if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial || c.Retry.Factor < 1 || c.Retry.MaxAge <= 0 {
		return errors.New("mail.retry: need 0 < initial <= max, factor >= 1, max_age > 0")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("mail.tls_cert and mail.tls_key: set both or neither")
	}
	if _, _, err := ParseLMTPTarget(c.LMTP); err != nil {
		return fmt.Errorf("mail.lmtp: %w", err)
	}
	if err := c.Spam.Validate(); err != nil {
		return fmt.Errorf("mail.%w", err)
	}
	if err := c.Reputation.Validate(); err != nil {
		return fmt.Errorf("mail.%w", err)
	}
	if c.Reputation.Threshold <= 0 || c.Reputation.HalfLife <= 0 {
		return errors.New("mail.reputation: threshold and half_life must be positive")
	}
	if c.Database == "" {
		return errors.New("mail.database: must not be empty")
	}
	for _, d := range c.Domains {
		if d == "" || strings.ContainsAny(d, "@ ") {
			return fmt.Errorf("mail.domains: invalid domain %q", d)
		}
	}
	return nil
}

// ParseLMTPTarget splits an LMTP target into a network ("tcp" or "unix")
// and an address. An empty target gives empty strings and no error.
func ParseLMTPTarget(s string) (network, addr string, err error) {
	switch {
	case s == "":
		return "", "", nil
	case strings.HasPrefix(s, "unix:"):
		network, addr = "unix", strings.TrimPrefix(s, "unix:")
	case strings.HasPrefix(s, "tcp:"):
		network, addr = "tcp", strings.TrimPrefix(s, "tcp:")
	default:
		network, addr = "tcp", s
	}
	if addr == "" {
		return "", "", fmt.Errorf("empty address in %q", s)
	}
	if network == "tcp" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("target %q: %w", s, err)
		}
	}
	return network, addr, nil
}

// SampleConfig is the commented `mail:` section written into a first-run
// scop.yaml. It must parse into DefaultConfig.
const SampleConfig = `# The SMTP receiver (also runnable alone: scop mail receive).
mail:
  # Start the receiver inside "scop serve".
  enabled: false
  # SMTP listen address; port 25 in production.
  listen: 127.0.0.1:2525
  # Name in the greeting and Received headers (empty: server_name).
  hostname: ""
  # authserv-id of our Authentication-Results headers (empty: hostname).
  authserv_id: ""
  # Extra mail domains; the server_name is always one. Every local
  # account is a mailbox: alice@domain for @alice:server_name.
  domains: []
  # Extra addresses: local part (or full address) -> mailbox local part.
  # RFC 5321 wants a postmaster, e.g. {postmaster: alice, abuse: alice}.
  # alice+anything@ reaches alice (subaddressing).
  aliases: {}
  # STARTTLS certificate and key (PEM); empty: self-signed, generated
  # into the data folder on first run.
  tls_cert: ""
  tls_key: ""
  # Accepted messages wait here (fsync'd before the 250 reply).
  spool_dir: mail/spool
  # SQLite file for the spam filter and sender reputation.
  database: mail.db
  # LMTP delivery target: tcp:host:port or unix:/path. Empty keeps mail
  # in the spool (see "scop mail queue").
  lmtp: ""
  limits:
    max_message_bytes: 33554432
    max_recipients: 100
    max_line_length: 4000
    max_connections: 200
    max_connections_per_ip: 10
    # SMTP commands per connection before "421 too many commands".
    max_commands: 1000
    # Message bytes held in memory by all sessions together.
    max_data_memory: 536870912
    # Connections are closed after this long, whatever they do.
    max_session_time: 1h
    read_timeout: 5m
    write_timeout: 1m
  # LMTP retries: initial delay, times factor per failure, up to max;
  # after max_age a message becomes a dead letter.
  retry:
    initial: 1m
    max: 1h
    factor: 2
    max_age: 120h
  dns:
    # Recursive resolvers (host:port); empty: /etc/resolv.conf.
    upstreams: []
    # Root trust anchor file (DS/DNSKEY records); empty: built in.
    trust_anchor: ""
  checks:
    spf: true
    dkim: true
    # DMARC p=reject rejects (550 5.7.1), p=quarantine marks as spam.
    dmarc: true
    # Bayes filter: adds X-Spam-Status (train with "scop spam train").
    spam: true
    # Score senders (SPF/DMARC failures, spam, unknown recipients) and
    # refuse connections (554) from IPs reaching reputation.threshold.
    reputation: true
  spam:
    # Scores at or below ham_cutoff are ham, at or above spam_cutoff spam.
    ham_cutoff: 0.3
    spam_cutoff: 0.7
    robinson_s: 0.25
    robinson_x: 0.5
    # Features closer to 0.5 than min_dev are ignored; header features
    # must reach header_min_dev (list headers must not outvote a body).
    min_dev: 0.2
    header_min_dev: 0.4
    # Effective size factor (bogofilter's); 1 leaves the scores alone.
    esf: 1
    # Most extreme features combined (0: all).
    max_features: 0
    # Below this many ham or spam messages learnt, every message is unsure.
    min_trained: 10
    dangerous_score: 0.999
  reputation:
    # Points halve every half_life; a sender at threshold points is blocked.
    half_life: 24h
    threshold: 10
    # Points per event (defaults: spf-fail 1, dmarc-fail 2.5, spam 2,
    # dangerous 5, rejected 1).
    weights: {}
`
