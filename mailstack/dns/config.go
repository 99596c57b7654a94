package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	miekg "github.com/miekg/dns"
)

// RootAnchors are the DS records of the root zone's key-signing keys,
// KSK-2017 (key tag 20326) and KSK-2024 (key tag 38696), published by
// IANA. Both are listed because the root rolls from the first to the
// second in 2026; a DNSKEY set signed by either validates.
var RootAnchors = []string{
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// Config configures a ValidatingResolver. Zero durations and sizes mean
// the DefaultConfig value.
type Config struct {
	// Upstreams are recursive resolvers, "host:port", asked in order.
	// They are sent the CD bit, so they return data even when their own
	// validation fails, and this resolver validates it.
	Upstreams []string `yaml:"upstreams"`
	// TrustAnchors are DS or DNSKEY records in presentation format; the
	// deepest anchor above a name starts its chain of trust. Names under
	// no anchor are Insecure.
	TrustAnchors []string `yaml:"trust_anchors"`
	// Timeout bounds one query to one upstream.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is how many times each upstream is tried per query.
	Attempts int `yaml:"attempts"`
	// CacheSize bounds the number of cached answers (LRU).
	CacheSize int `yaml:"cache_size"`
	// MaxTTL caps positive cache lifetimes, NegativeTTL caps negative
	// ones (RFC 2308 §5), BogusTTL is how long a bogus verdict is kept
	// (RFC 4035 §4.7).
	MaxTTL      time.Duration `yaml:"max_ttl"`
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	BogusTTL    time.Duration `yaml:"bogus_ttl"`
	// MaxCNAME bounds CNAME chains; longer chains and loops are errors.
	MaxCNAME int `yaml:"max_cname"`
	// Now is the clock, for cache expiry and signature validity periods.
	Now func() time.Time `yaml:"-"`
	// Logger receives validation failures at Debug; nil discards them.
	Logger *slog.Logger `yaml:"-"`
}

// DefaultConfig asks a local recursive resolver and trusts the root keys.
func DefaultConfig() Config {
	return Config{
		Upstreams:    []string{"127.0.0.1:53"},
		TrustAnchors: append([]string(nil), RootAnchors...),
		Timeout:      2 * time.Second,
		Attempts:     2,
		CacheSize:    10000,
		MaxTTL:       24 * time.Hour,
		NegativeTTL:  time.Hour,
		BogusTTL:     30 * time.Second,
		MaxCNAME:     8,
		Now:          time.Now,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Upstreams) == 0 {
		c.Upstreams = d.Upstreams
	}
	if c.TrustAnchors == nil {
		c.TrustAnchors = d.TrustAnchors
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Attempts <= 0 {
		c.Attempts = d.Attempts
	}
	if c.CacheSize <= 0 {
		c.CacheSize = d.CacheSize
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = d.MaxTTL
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = d.NegativeTTL
	}
	if c.BogusTTL <= 0 {
		c.BogusTTL = d.BogusTTL
	}
	if c.MaxCNAME <= 0 {
		c.MaxCNAME = d.MaxCNAME
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks the configuration, naming the YAML key at fault.
func (c Config) Validate() error {
	for _, u := range c.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return fmt.Errorf("dns.upstreams: %q: %w", u, err)
		}
	}
	if _, err := parseAnchors(c.TrustAnchors); err != nil {
		return fmt.Errorf("dns.trust_anchors: %w", err)
	}
	return nil
}

// anchor is the trust anchor set of one zone.
type anchor struct {
	zone    string
	ds      []*miekg.DS
	dnskeys []*miekg.DNSKEY
}

func parseAnchors(texts []string) (map[string]*anchor, error) {
	out := map[string]*anchor{}
	for _, t := range texts {
		rr, err := miekg.NewRR(t)
		if err != nil || rr == nil {
			return nil, fmt.Errorf("anchor %q: %v", t, err)
		}
		zone := strings.ToLower(rr.Header().Name)
		a := out[zone]
		if a == nil {
			a = &anchor{zone: zone}
			out[zone] = a
		}
		switch v := rr.(type) {
		case *miekg.DS:
			a.ds = append(a.ds, v)
		case *miekg.DNSKEY:
			a.dnskeys = append(a.dnskeys, v)
		default:
			return nil, fmt.Errorf("anchor %q: want DS or DNSKEY", t)
		}
	}
	if len(texts) > 0 && len(out) == 0 {
		return nil, errors.New("no anchors")
	}
	return out, nil
}

// SystemUpstreams reads the nameservers of a resolv.conf file (normally
// /etc/resolv.conf) as "host:port" upstreams, for a configuration that
// leaves the upstreams empty.
func SystemUpstreams(path string) ([]string, error) {
	cc, err := miekg.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read %s: no nameserver", path)
	}
	return out, nil
}

// LoadTrustAnchors reads DS or DNSKEY records in zone-file format (as
// IANA's root anchors or unbound's root.key) for Config.TrustAnchors.
func LoadTrustAnchors(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read trust anchors: %w", err)
	}
	defer f.Close()
	zp := miekg.NewZoneParser(f, ".", path)
	var out []string
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch rr.(type) {
		case *miekg.DS, *miekg.DNSKEY:
			out = append(out, rr.String())
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("read trust anchors %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read trust anchors %s: no DS or DNSKEY record", path)
	}
	return out, nil
}
