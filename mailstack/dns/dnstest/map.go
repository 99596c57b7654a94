// Package dnstest holds DNS fakes for tests: MapResolver, a Resolver
// answered from Go maps for unit tests of the mail checks, and World, a
// DNSSEC-signed zone tree served by a real DNS server on loopback for the
// validating resolver's tests.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	mdns "scop/mailstack/dns"
)

// MapResolver is a Resolver answered from maps keyed by lower-case names
// without trailing dot. A name absent from every map is NXDOMAIN; a name
// present in some map but not the asked one is NODATA; both give
// mdns.ErrNotFound. CNAME entries are followed (up to 10 hops) for every
// type, so a CNAME loop gives a temporary error as a real resolver would.
type MapResolver struct {
	TXT  map[string][]string
	A    map[string][]string // IPv4 addresses in text form
	AAAA map[string][]string // IPv6 addresses in text form
	MX   map[string][]*net.MX
	// PTR is keyed by the reverse name (4.3.2.1.in-addr.arpa) or by the
	// address in text form (1.2.3.4).
	PTR   map[string][]string
	CNAME map[string]string

	// Fail makes lookups fail with the given error: keyed by "TYPE name"
	// (e.g. "TXT example.com") for one type or by "name" for all types.
	// Errors that should be temporary must wrap mdns.ErrTemporary.
	Fail map[string]error
	// Security gives the DNSSEC status of the answers for a name; absent
	// names are Insecure. A Bogus name fails with mdns.ErrBogus.
	Security map[string]mdns.Security

	// Lookups counts the lookups made, for tests asserting caching or
	// lookup limits.
	Lookups atomic.Int64
}

var _ mdns.Resolver = (*MapResolver)(nil)

func normName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

func (m *MapResolver) exists(name string) bool {
	if _, ok := m.TXT[name]; ok {
		return true
	}
	if _, ok := m.A[name]; ok {
		return true
	}
	if _, ok := m.AAAA[name]; ok {
		return true
	}
	if _, ok := m.MX[name]; ok {
		return true
	}
	if _, ok := m.PTR[name]; ok {
		return true
	}
	_, ok := m.CNAME[name]
	return ok
}

// resolve follows CNAMEs from name and reports the final name, the worst
// security seen along the chain, or the error configured for it.
func (m *MapResolver) resolve(typ, name string) (string, mdns.Security, error) {
	m.Lookups.Add(1)
	name = normName(name)
	sec := mdns.Secure
	for hop := 0; ; hop++ {
		if hop > 10 {
			return "", mdns.Insecure, fmt.Errorf("lookup %s %s: CNAME chain too long or looping: %w", typ, name, mdns.ErrTemporary)
		}
		if err, ok := m.Fail[typ+" "+name]; ok {
			return "", mdns.Insecure, fmt.Errorf("lookup %s %s: %w", typ, name, err)
		}
		if err, ok := m.Fail[name]; ok {
			return "", mdns.Insecure, fmt.Errorf("lookup %s %s: %w", typ, name, err)
		}
		s := m.Security[name]
		if s == mdns.Bogus {
			return "", mdns.Bogus, fmt.Errorf("lookup %s %s: %w", typ, name, mdns.ErrBogus)
		}
		if s == mdns.Insecure {
			sec = mdns.Insecure
		}
		target, ok := m.CNAME[name]
		if !ok {
			return name, sec, nil
		}
		name = normName(target)
	}
}

func (m *MapResolver) notFound(typ, name string, sec mdns.Security) error {
	what := "NODATA"
	if !m.exists(name) {
		what = "NXDOMAIN"
	}
	return fmt.Errorf("lookup %s %s: %s (%s): %w", typ, name, what, sec, mdns.ErrNotFound)
}

// LookupTXT implements mdns.Resolver.
func (m *MapResolver) LookupTXT(ctx context.Context, name string) ([]string, mdns.Security, error) {
	n, sec, err := m.resolve("TXT", name)
	if err != nil {
		return nil, sec, err
	}
	v, ok := m.TXT[n]
	if !ok || len(v) == 0 {
		return nil, sec, m.notFound("TXT", n, sec)
	}
	return append([]string(nil), v...), sec, nil
}

func (m *MapResolver) lookupAddrs(typ string, src map[string][]string, name string) ([]net.IP, mdns.Security, error) {
	n, sec, err := m.resolve(typ, name)
	if err != nil {
		return nil, sec, err
	}
	v := src[n]
	if len(v) == 0 {
		return nil, sec, m.notFound(typ, n, sec)
	}
	ips := make([]net.IP, 0, len(v))
	for _, s := range v {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, sec, fmt.Errorf("lookup %s %s: bad address %q in test data: %w", typ, n, s, mdns.ErrTemporary)
		}
		if typ == "A" {
			ip = ip.To4()
		}
		ips = append(ips, ip)
	}
	return ips, sec, nil
}

// LookupA implements mdns.Resolver.
func (m *MapResolver) LookupA(ctx context.Context, name string) ([]net.IP, mdns.Security, error) {
	return m.lookupAddrs("A", m.A, name)
}

// LookupAAAA implements mdns.Resolver.
func (m *MapResolver) LookupAAAA(ctx context.Context, name string) ([]net.IP, mdns.Security, error) {
	return m.lookupAddrs("AAAA", m.AAAA, name)
}

// LookupIP implements mdns.Resolver: both families, NotFound only when
// both are empty.
func (m *MapResolver) LookupIP(ctx context.Context, name string) ([]net.IP, mdns.Security, error) {
	a, sa, errA := m.LookupA(ctx, name)
	aaaa, s6, err6 := m.LookupAAAA(ctx, name)
	sec := sa
	if s6 < sec || s6 == mdns.Bogus {
		sec = s6
	}
	for _, err := range []error{errA, err6} {
		if err != nil && !isNotFound(err) {
			return nil, sec, err
		}
	}
	ips := append(a, aaaa...)
	if len(ips) == 0 {
		return nil, sec, errA
	}
	return ips, sec, nil
}

// LookupMX implements mdns.Resolver.
func (m *MapResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, mdns.Security, error) {
	n, sec, err := m.resolve("MX", name)
	if err != nil {
		return nil, sec, err
	}
	v := m.MX[n]
	if len(v) == 0 {
		return nil, sec, m.notFound("MX", n, sec)
	}
	out := make([]*net.MX, len(v))
	for i, mx := range v {
		c := *mx
		out[i] = &c
	}
	return out, sec, nil
}

// LookupPTR implements mdns.Resolver.
func (m *MapResolver) LookupPTR(ctx context.Context, ip net.IP) ([]string, mdns.Security, error) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return nil, mdns.Insecure, fmt.Errorf("lookup PTR %s: %w", ip, err)
	}
	rev = normName(rev)
	if _, ok := m.PTR[rev]; !ok {
		if v, ok := m.PTR[ip.String()]; ok {
			m.Lookups.Add(1)
			return append([]string(nil), v...), m.Security[ip.String()], nil
		}
	}
	n, sec, err := m.resolve("PTR", rev)
	if err != nil {
		return nil, sec, err
	}
	v := m.PTR[n]
	if len(v) == 0 {
		return nil, sec, m.notFound("PTR", n, sec)
	}
	return append([]string(nil), v...), sec, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, mdns.ErrNotFound)
}
