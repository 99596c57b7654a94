package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
)

// ValidatingResolver is a DNSSEC-validating stub resolver: it asks
// upstream recursive resolvers with the DO and CD bits set and checks
// every answer itself, from the configured trust anchors down (RFC 4035
// §5), so a forged or stripped answer is Bogus and never returned. It
// caches answers by TTL in a bounded LRU. It is safe for concurrent use.
type ValidatingResolver struct {
	cfg     Config
	anchors map[string]*anchor
	cache   *cache
	// inflight joins concurrent lookups of one name and type, so a burst
	// of sessions from one sender costs one resolution.
	mu       sync.Mutex
	inflight map[string]*call
	// preferred is the index of the upstream that answered last: it is
	// asked first, so a dead first upstream costs one time-out, not one
	// per query.
	preferred atomic.Int32
	// exchange sends one query; tests and fuzzing replace it.
	exchange func(ctx context.Context, m *miekg.Msg) (*miekg.Msg, error)
}

var _ Resolver = (*ValidatingResolver)(nil)

// Answer is a validated answer: the records of the asked type at the end
// of any CNAME chain, with their DNSSEC status.
type Answer struct {
	// Name is the owner of RRs: the asked name, or the last CNAME target.
	Name     string
	Type     uint16
	RRs      []miekg.RR
	Security Security
}

// NewValidatingResolver checks cfg and returns a resolver.
func NewValidatingResolver(cfg Config) (*ValidatingResolver, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	anchors, _ := parseAnchors(cfg.TrustAnchors)
	r := &ValidatingResolver{cfg: cfg, anchors: anchors, cache: newCache(cfg.CacheSize), inflight: map[string]*call{}}
	r.exchange = r.exchangeUpstreams
	return r, nil
}

// call is a lookup in progress that others can wait for.
type call struct {
	done chan struct{}
	ans  *Answer
	err  error
}

// cachedResult is what the cache holds for a (name, type) lookup.
type cachedResult struct {
	ans *Answer
	err error // wraps ErrNotFound or ErrBogus
}

// Lookup resolves name/qtype and validates the answer. A proven or
// insecure negative answer gives an error wrapping ErrNotFound together
// with an Answer carrying its Security; time-outs, SERVFAIL, loops and
// Bogus answers give an error wrapping ErrTemporary (and no records).
//
// name is plain text, not presentation format: octets other than letters,
// digits, '-', '_' and '*' are escaped before the query (SPF macros can
// put spaces and '%' in names). The returned Answer is shared with the
// cache and must not be modified.
func (r *ValidatingResolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	qname, ok := normalizeName(escapeName(name))
	if !ok {
		return &Answer{Name: qname, Type: qtype, Security: Insecure},
			fmt.Errorf("lookup %s: invalid name: %w", name, ErrNotFound)
	}
	key := cacheKey(qname, qtype)
	if v, ok := r.cache.get(key, r.cfg.Now()); ok {
		c := v.(*cachedResult)
		return c.ans, c.err
	}
	r.mu.Lock()
	if c, ok := r.inflight[key]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.ans, c.err
		case <-ctx.Done():
			return &Answer{Name: qname, Type: qtype, Security: Insecure},
				fmt.Errorf("lookup %s: %w: %w", qname, ErrTemporary, ctx.Err())
		}
	}
	c := &call{done: make(chan struct{})}
	r.inflight[key] = c
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.inflight, key)
		r.mu.Unlock()
		close(c.done)
	}()

	v := &validation{r: r, now: r.cfg.Now()}
	ans, ttl, err := v.resolve(ctx, qname, qtype)
	c.ans, c.err = ans, err
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		r.cache.put(key, &cachedResult{ans, err}, r.cfg.Now().Add(ttl))
	case errors.Is(err, ErrBogus):
		r.cfg.Logger.Debug("dnssec bogus", "name", qname, "type", miekg.TypeToString[qtype], "err", err)
		r.cache.put(key, &cachedResult{ans, err}, r.cfg.Now().Add(r.cfg.BogusTTL))
	}
	return ans, err
}

// escapeName turns a plain-text name into presentation format.
func escapeName(name string) string {
	plain := true
	for i := 0; i < len(name); i++ {
		if !nameOctet(name[i]) {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if c := name[i]; nameOctet(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

// normalizeName round-trips a presentation-format name through the wire
// format, so it is spelled as names unpacked from responses are.
func normalizeName(s string) (string, bool) {
	if _, ok := miekg.IsDomainName(s); !ok || strings.Contains(s, "..") {
		return "", false
	}
	buf := make([]byte, 256)
	off, err := miekg.PackDomainName(miekg.Fqdn(s), buf, 0, nil, false)
	if err != nil {
		return "", false
	}
	n, _, err := miekg.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return "", false
	}
	return miekg.CanonicalName(n), true
}

func nameOctet(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' || c == '.'
}

func cacheKey(name string, qtype uint16) string {
	return fmt.Sprintf("%s/%d", name, qtype)
}

// exchangeUpstreams asks each upstream in turn, starting with the one
// that answered last, Attempts times over, on UDP then on TCP when the
// answer is truncated.
func (r *ValidatingResolver) exchangeUpstreams(ctx context.Context, m *miekg.Msg) (*miekg.Msg, error) {
	var last error
	n := len(r.cfg.Upstreams)
	first := int(r.preferred.Load())
	for attempt := 0; attempt < r.cfg.Attempts; attempt++ {
		for i := range n {
			idx := (first + i) % n
			up := r.cfg.Upstreams[idx]
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			udp := &miekg.Client{Net: "udp", Timeout: r.cfg.Timeout, UDPSize: 1232}
			resp, _, err := udp.ExchangeContext(ctx, m, up)
			if err == nil && resp.Truncated {
				tcp := &miekg.Client{Net: "tcp", Timeout: r.cfg.Timeout}
				resp, _, err = tcp.ExchangeContext(ctx, m, up)
			}
			if err != nil {
				last = fmt.Errorf("%s: %w", up, err)
				continue
			}
			if resp.Rcode != miekg.RcodeSuccess && resp.Rcode != miekg.RcodeNameError {
				last = fmt.Errorf("%s: rcode %s", up, miekg.RcodeToString[resp.Rcode])
				continue
			}
			r.preferred.Store(int32(idx))
			return resp, nil
		}
	}
	return nil, last
}

// query sends name/qtype upstream and checks the response belongs to it.
func (v *validation) query(ctx context.Context, name string, qtype uint16) (*miekg.Msg, error) {
	v.queries++
	if v.queries > maxQueriesPerLookup {
		return nil, fmt.Errorf("query %s %s: too many queries for one lookup: %w", name, miekg.TypeToString[qtype], ErrTemporary)
	}
	m := new(miekg.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = true
	m.SetEdns0(1232, true)
	resp, err := v.r.exchange(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w: %w", name, miekg.TypeToString[qtype], ErrTemporary, err)
	}
	if resp == nil || len(resp.Question) != 1 || resp.Question[0].Qtype != qtype ||
		!strings.EqualFold(resp.Question[0].Name, name) {
		return nil, fmt.Errorf("query %s %s: response for another question: %w", name, miekg.TypeToString[qtype], ErrTemporary)
	}
	if resp.Rcode != miekg.RcodeSuccess && resp.Rcode != miekg.RcodeNameError {
		return nil, fmt.Errorf("query %s %s: rcode %s: %w", name, miekg.TypeToString[qtype], miekg.RcodeToString[resp.Rcode], ErrTemporary)
	}
	return resp, nil
}

// maxQueriesPerLookup bounds the upstream queries one lookup may cause
// (chain of trust, CNAME chain), so hostile data cannot make it run long.
const maxQueriesPerLookup = 100

// LookupTXT implements Resolver.
func (r *ValidatingResolver) LookupTXT(ctx context.Context, name string) ([]string, Security, error) {
	ans, err := r.Lookup(ctx, name, miekg.TypeTXT)
	if err != nil {
		return nil, secOf(ans), err
	}
	var out []string
	for _, rr := range ans.RRs {
		if t, ok := rr.(*miekg.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, ans.Security, nil
}

func secOf(a *Answer) Security {
	if a == nil {
		return Insecure
	}
	return a.Security
}

func (r *ValidatingResolver) lookupAddr(ctx context.Context, name string, qtype uint16) ([]net.IP, Security, error) {
	ans, err := r.Lookup(ctx, name, qtype)
	if err != nil {
		return nil, secOf(ans), err
	}
	var out []net.IP
	for _, rr := range ans.RRs {
		switch a := rr.(type) {
		case *miekg.A:
			out = append(out, a.A)
		case *miekg.AAAA:
			out = append(out, a.AAAA)
		}
	}
	return out, ans.Security, nil
}

// LookupA implements Resolver.
func (r *ValidatingResolver) LookupA(ctx context.Context, name string) ([]net.IP, Security, error) {
	return r.lookupAddr(ctx, name, miekg.TypeA)
}

// LookupAAAA implements Resolver.
func (r *ValidatingResolver) LookupAAAA(ctx context.Context, name string) ([]net.IP, Security, error) {
	return r.lookupAddr(ctx, name, miekg.TypeAAAA)
}

// LookupIP implements Resolver: A and AAAA, Secure only when both are.
func (r *ValidatingResolver) LookupIP(ctx context.Context, name string) ([]net.IP, Security, error) {
	a, s4, err4 := r.LookupA(ctx, name)
	aaaa, s6, err6 := r.LookupAAAA(ctx, name)
	sec := Secure
	if s4 != Secure || s6 != Secure {
		sec = Insecure
	}
	for _, err := range []error{err4, err6} {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, Insecure, err
		}
	}
	ips := append(a, aaaa...)
	if len(ips) == 0 {
		return nil, sec, err4
	}
	return ips, sec, nil
}

// LookupMX implements Resolver.
func (r *ValidatingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, Security, error) {
	ans, err := r.Lookup(ctx, name, miekg.TypeMX)
	if err != nil {
		return nil, secOf(ans), err
	}
	var out []*net.MX
	for _, rr := range ans.RRs {
		if mx, ok := rr.(*miekg.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	return out, ans.Security, nil
}

// LookupPTR implements Resolver.
func (r *ValidatingResolver) LookupPTR(ctx context.Context, ip net.IP) ([]string, Security, error) {
	rev, err := miekg.ReverseAddr(ip.String())
	if err != nil {
		return nil, Insecure, fmt.Errorf("lookup PTR %s: %w", ip, err)
	}
	ans, err := r.Lookup(ctx, rev, miekg.TypePTR)
	if err != nil {
		return nil, secOf(ans), err
	}
	var out []string
	for _, rr := range ans.RRs {
		if p, ok := rr.(*miekg.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out, ans.Security, nil
}

// CacheLen reports how many answers are cached.
func (r *ValidatingResolver) CacheLen() int { return r.cache.len() }

// clampTTL turns a record TTL into a cache lifetime within [1s, max].
func clampTTL(ttl uint32, max time.Duration) time.Duration {
	d := time.Duration(ttl) * time.Second
	if d > max {
		d = max
	}
	if d < time.Second {
		d = time.Second
	}
	return d
}
