// Package spf implements the Sender Policy Framework, RFC 7208: it
// evaluates check_host() for the MAIL FROM or HELO identity of an SMTP
// session over a mailstack/dns Resolver, so every answer carries its
// DNSSEC status, and renders the result for Received-SPF (§9.1) and
// Authentication-Results (RFC 8601 §2.7.2).
package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"scop/mailstack/dns"
)

// Status is an SPF result (RFC 7208 §2.6).
type Status string

// The results of check_host() (RFC 7208 §2.6).
const (
	// None: no syntactically valid domain or no SPF record.
	None Status = "none"
	// Neutral: the domain states no assertion about the client.
	Neutral Status = "neutral"
	// Pass: the client is authorized to use the domain.
	Pass Status = "pass"
	// Fail: the client is explicitly not authorized.
	Fail Status = "fail"
	// SoftFail: the client is probably not authorized.
	SoftFail Status = "softfail"
	// TempError: a transient (generally DNS) error; retry later may work.
	TempError Status = "temperror"
	// PermError: the domain's records could not be interpreted.
	PermError Status = "permerror"
)

// Errors wrapped in Result.Err.
var (
	// ErrLookupLimit: more than MaxLookups DNS-querying terms (RFC 7208 §4.6.4).
	ErrLookupLimit = errors.New("spf: too many DNS lookups")
	// ErrVoidLimit: more than MaxVoidLookups lookups found nothing (RFC 7208 §4.6.4).
	ErrVoidLimit = errors.New("spf: too many void DNS lookups")
	// ErrMultipleRecords: more than one v=spf1 record (RFC 7208 §4.5).
	ErrMultipleRecords = errors.New("spf: multiple SPF records")
	// ErrNoRecord: no v=spf1 record (RFC 7208 §4.5).
	ErrNoRecord = errors.New("spf: no SPF record")
	// ErrBadDomain: the domain is not a valid FQDN (RFC 7208 §4.3).
	ErrBadDomain = errors.New("spf: invalid domain")
)

// Result is the outcome of an SPF check.
type Result struct {
	Status Status
	// Explanation is the expanded exp= text for a Fail, empty when the
	// domain gave none (then the receiver uses its own default text).
	Explanation string
	// Err is the cause of None, TempError and PermError, for logs.
	Err error

	// Identity is "mailfrom" or "helo": which identity was checked.
	Identity string
	// Domain is the checked domain: the MAIL FROM domain, or the HELO
	// name when MAIL FROM was empty.
	Domain string
	// Sender is the <sender> of check_host(): MAIL FROM, or
	// postmaster@HELO when MAIL FROM was empty.
	Sender string
	// IP is the client address (IPv4-mapped addresses as IPv4).
	IP net.IP
	// HELO is the name the client gave in HELO/EHLO.
	HELO string
	// Mechanism is the directive that matched, e.g. "-all", empty when
	// none did.
	Mechanism string
	// Security is the DNSSEC status of the domain's SPF record lookup.
	Security dns.Security
	// Lookups is the number of DNS-querying terms evaluated.
	Lookups int
}

// Config tunes the checks; the zero value of a field means its default.
type Config struct {
	// Receiver is the receiving host's domain name, for %{r} in
	// explanations.
	Receiver string
	// MaxLookups bounds the DNS-querying terms (default 10, RFC 7208 §4.6.4).
	MaxLookups int
	// MaxVoidLookups bounds the lookups answering nothing (default 2).
	MaxVoidLookups int
	// Timeout bounds the whole check (default 20s, RFC 7208 §4.6.4).
	Timeout time.Duration
	// Now gives the time for %{t} (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the limits RFC 7208 recommends.
func DefaultConfig() Config {
	return Config{MaxLookups: 10, MaxVoidLookups: 2, Timeout: 20 * time.Second, Now: time.Now}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxLookups <= 0 {
		c.MaxLookups = d.MaxLookups
	}
	if c.MaxVoidLookups <= 0 {
		c.MaxVoidLookups = d.MaxVoidLookups
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Check evaluates the MAIL FROM identity with the default Config. With
// an empty mailFrom it checks postmaster@helo, the HELO identity (RFC
// 7208 §2.4).
func Check(ctx context.Context, r dns.Resolver, ip net.IP, helo, mailFrom string) Result {
	return Config{}.Check(ctx, r, ip, helo, mailFrom)
}

// Check evaluates the MAIL FROM identity (the HELO identity when mailFrom
// is empty) of a client at ip.
func (c Config) Check(ctx context.Context, r dns.Resolver, ip net.IP, helo, mailFrom string) Result {
	identity, sender := "mailfrom", mailFrom
	if mailFrom == "" {
		identity, sender = "helo", "postmaster@"+helo
	}
	local, domain := "", sender
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		local, domain = sender[:i], sender[i+1:]
	}
	if local == "" {
		// RFC 7208 §4.3: a sender without local-part is postmaster@domain.
		local = "postmaster"
		sender = "postmaster@" + domain
	}
	if a, ok := toASCII(domain); ok && a != domain {
		// SMTPUTF8 domains are looked up as A-labels (RFC 7208 §4.3).
		domain = a
		sender = local + "@" + a
	}
	res := c.CheckHost(ctx, r, ip, domain, sender, helo)
	res.Identity = identity
	return res
}

// toASCII converts a domain with non-ASCII labels to A-labels.
func toASCII(domain string) (string, bool) {
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(domain)
			return a, err == nil
		}
	}
	return domain, true
}

// CheckHELO evaluates the HELO identity alone (RFC 7208 §2.3).
func (c Config) CheckHELO(ctx context.Context, r dns.Resolver, ip net.IP, helo string) Result {
	res := c.CheckHost(ctx, r, ip, helo, "postmaster@"+helo, helo)
	res.Identity = "helo"
	return res
}

// CheckHost is check_host(ip, domain, sender) of RFC 7208 §4.
func (c Config) CheckHost(ctx context.Context, r dns.Resolver, ip net.IP, domain, sender, helo string) Result {
	c = c.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if v4 := ip.To4(); v4 != nil {
		ip = v4 // RFC 7208 §5: IPv4-mapped addresses are IPv4.
	}
	e := &eval{cfg: c, r: r, ip: ip, sender: sender, helo: helo}
	domain = strings.TrimSuffix(domain, ".")
	o := e.checkHost(ctx, domain, true, 0)
	return Result{
		Status:      o.status,
		Explanation: o.exp,
		Err:         o.err,
		Identity:    "mailfrom",
		Domain:      domain,
		Sender:      sender,
		IP:          ip,
		HELO:        helo,
		Mechanism:   o.mech,
		Security:    e.topSecurity,
		Lookups:     e.lookups,
	}
}

// eval is the state of one check_host() evaluation, shared by the
// records reached through include and redirect so the limits are global.
type eval struct {
	cfg          Config
	r            dns.Resolver
	ip           net.IP
	sender, helo string
	lookups      int
	voids        int
	topSecurity  dns.Security
	ptrDone      bool
	ptrNames     []string // validated names of ip, for ptr and %{p}
}

type outcome struct {
	status Status
	exp    string
	err    error
	mech   string
}

func fail(s Status, err error) outcome { return outcome{status: s, err: err} }

// validDomain checks RFC 7208 §4.3: a multi-label name, labels of 1 to
// 63 octets, no domain literal. Macro expansion may legitimately put
// spaces and '%' in names, so only control octets are refused.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || d[0] == '[' {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; c < ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return true
}

func (e *eval) checkHost(ctx context.Context, domain string, wantExp bool, depth int) outcome {
	if !validDomain(domain) {
		return fail(None, fmt.Errorf("%w: %q", ErrBadDomain, domain))
	}
	txts, sec, err := e.r.LookupTXT(ctx, domain)
	if depth == 0 {
		e.topSecurity = sec
	}
	if err != nil {
		if errors.Is(err, dns.ErrNotFound) {
			return fail(None, fmt.Errorf("%w at %s: %w", ErrNoRecord, domain, err))
		}
		return fail(TempError, fmt.Errorf("spf record of %s: %w", domain, err))
	}
	var spf []string
	for _, t := range txts {
		if IsSPF(t) {
			spf = append(spf, t)
		}
	}
	switch len(spf) {
	case 0:
		return fail(None, fmt.Errorf("%w at %s", ErrNoRecord, domain))
	case 1:
	default:
		return fail(PermError, fmt.Errorf("%w at %s", ErrMultipleRecords, domain))
	}
	rec, err := Parse(spf[0])
	if err != nil {
		return fail(PermError, fmt.Errorf("record of %s: %w", domain, err))
	}
	data := &MacroData{Sender: e.sender, Domain: domain, IP: e.ip, HELO: e.helo,
		Receiver: e.cfg.Receiver, Now: e.cfg.Now(), PTR: func() string { return e.ptrMacro(ctx, domain) }}
	for _, d := range rec.Directives {
		m, o := e.match(ctx, d, data, depth)
		if o != nil {
			return *o
		}
		if !m {
			continue
		}
		res := outcome{status: qualifierStatus(d.Qualifier), mech: d.String()}
		if res.status == Fail && wantExp && rec.Exp != "" {
			res.exp = e.explain(ctx, rec.Exp, data)
		}
		return res
	}
	if rec.Redirect != "" {
		// RFC 7208 §6.1: redirect only when no mechanism matched.
		if o := e.count(); o != nil {
			return *o
		}
		target, err := e.expandDomain(rec.Redirect, data)
		if err != nil {
			return fail(PermError, fmt.Errorf("redirect of %s: %w", domain, err))
		}
		o := e.checkHost(ctx, target, wantExp, depth+1)
		if o.status == None {
			return fail(PermError, fmt.Errorf("redirect of %s to %s: %w", domain, target, o.err))
		}
		return o
	}
	return outcome{status: Neutral}
}

func qualifierStatus(q byte) Status {
	switch q {
	case '-':
		return Fail
	case '~':
		return SoftFail
	case '?':
		return Neutral
	}
	return Pass
}

// count charges one DNS-querying term against the limit.
func (e *eval) count() *outcome {
	e.lookups++
	if e.lookups > e.cfg.MaxLookups {
		o := fail(PermError, fmt.Errorf("%w (%d)", ErrLookupLimit, e.cfg.MaxLookups))
		return &o
	}
	return nil
}

// void charges a lookup that found nothing against the void limit.
func (e *eval) void() *outcome {
	e.voids++
	if e.voids > e.cfg.MaxVoidLookups {
		o := fail(PermError, fmt.Errorf("%w (%d)", ErrVoidLimit, e.cfg.MaxVoidLookups))
		return &o
	}
	return nil
}

// expandDomain expands a domain-spec and shortens it to 253 octets by
// dropping labels on the left (RFC 7208 §7.3).
func (e *eval) expandDomain(spec string, data *MacroData) (string, error) {
	s, err := ExpandMacro(spec, data, false)
	if err != nil {
		return "", err
	}
	s = strings.TrimSuffix(s, ".")
	for len(s) > 253 {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return s, nil
}

// target is the domain a mechanism queries: its domain-spec expanded, or
// the current domain.
func (e *eval) target(d Directive, data *MacroData) (string, *outcome) {
	if d.Domain == "" {
		return data.Domain, nil
	}
	t, err := e.expandDomain(d.Domain, data)
	if err != nil {
		o := fail(PermError, fmt.Errorf("%s: %w", d, err))
		return "", &o
	}
	return t, nil
}
