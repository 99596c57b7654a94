package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"scop/mailstack/dns"
)

// lookupErr maps a failed lookup: not found counts as void and does not
// match; anything else is a temperror.
func (e *eval) lookupErr(err error) *outcome {
	if errors.Is(err, dns.ErrNotFound) {
		return e.void()
	}
	o := fail(TempError, err)
	return &o
}

// match evaluates one mechanism (RFC 7208 §5); a non-nil outcome ends the
// evaluation with an error result.
func (e *eval) match(ctx context.Context, d Directive, data *MacroData, depth int) (bool, *outcome) {
	if ctx.Err() != nil {
		o := fail(TempError, fmt.Errorf("spf: %w", ctx.Err()))
		return false, &o
	}
	switch d.Mechanism {
	case "all":
		return true, nil
	case "ip4", "ip6":
		if (d.Mechanism == "ip4") != (e.ip.To4() != nil) {
			return false, nil
		}
		return e.inNet(d.IP, d.Prefix4, d.Prefix6, e.ip), nil
	}
	if o := e.count(); o != nil {
		return false, o
	}
	t, o := e.target(d, data)
	if o != nil {
		return false, o
	}
	switch d.Mechanism {
	case "include":
		r := e.checkHost(ctx, t, false, depth+1)
		switch r.status {
		case Pass:
			return true, nil
		case Fail, SoftFail, Neutral:
			return false, nil
		case TempError:
			return false, &r
		default: // permerror, and none (RFC 7208 §5.2)
			r.status = PermError
			if r.err == nil {
				r.err = fmt.Errorf("include:%s gave none", t)
			}
			return false, &r
		}
	case "a":
		if !validDomain(t) {
			return false, e.void()
		}
		ips, err := e.addrs(ctx, t)
		if err != nil {
			return false, e.lookupErr(err)
		}
		return e.anyInNet(ips, d), nil
	case "mx":
		if !validDomain(t) {
			return false, e.void()
		}
		mxs, _, err := e.r.LookupMX(ctx, t)
		if err != nil {
			return false, e.lookupErr(err)
		}
		if len(mxs) > 10 {
			o := fail(PermError, fmt.Errorf("mx:%s: %d MX records, over 10: %w", t, len(mxs), ErrLookupLimit))
			return false, &o
		}
		for _, mx := range mxs {
			host := strings.TrimSuffix(mx.Host, ".")
			if host == "" {
				continue // null MX (RFC 7505)
			}
			ips, err := e.addrs(ctx, host)
			if err != nil {
				if errors.Is(err, dns.ErrNotFound) {
					continue
				}
				o := fail(TempError, err)
				return false, &o
			}
			if e.anyInNet(ips, d) {
				return true, nil
			}
		}
		return false, nil
	case "ptr":
		names, o := e.validated(ctx)
		if o != nil {
			return false, o
		}
		t = strings.ToLower(t)
		for _, n := range names {
			if n == t || strings.HasSuffix(n, "."+t) {
				return true, nil
			}
		}
		return false, nil
	case "exists":
		if !validDomain(t) {
			return false, e.void()
		}
		// RFC 7208 §5.7: always an A query, whatever the client's family.
		_, _, err := e.r.LookupA(ctx, t)
		if err != nil {
			return false, e.lookupErr(err)
		}
		return true, nil
	}
	o = &outcome{status: PermError, err: fmt.Errorf("unknown mechanism %q", d.Mechanism)}
	return false, o
}

// addrs looks up the addresses of the client's family.
func (e *eval) addrs(ctx context.Context, name string) ([]net.IP, error) {
	if e.ip.To4() != nil {
		ips, _, err := e.r.LookupA(ctx, name)
		return ips, err
	}
	ips, _, err := e.r.LookupAAAA(ctx, name)
	return ips, err
}

func (e *eval) anyInNet(ips []net.IP, d Directive) bool {
	for _, ip := range ips {
		if e.inNet(ip, d.Prefix4, d.Prefix6, e.ip) {
			return true
		}
	}
	return false
}

// inNet reports whether client is in network/prefix of its family; a
// negative prefix means the full length.
func (e *eval) inNet(network net.IP, p4, p6 int, client net.IP) bool {
	if v4 := client.To4(); v4 != nil {
		n4 := network.To4()
		if n4 == nil {
			return false
		}
		if p4 < 0 {
			p4 = 32
		}
		m := net.CIDRMask(p4, 32)
		return n4.Mask(m).Equal(v4.Mask(m))
	}
	if network.To4() != nil && len(network) == net.IPv4len {
		return false
	}
	if p6 < 0 {
		p6 = 128
	}
	m := net.CIDRMask(p6, 128)
	return network.To16().Mask(m).Equal(client.To16().Mask(m))
}

// validated returns the client's validated domain names (RFC 7208 §5.5):
// PTR names whose forward lookup contains the client address. Only the
// first 10 PTR names are tried; lookup errors skip a name.
func (e *eval) validated(ctx context.Context) ([]string, *outcome) {
	if e.ptrDone {
		return e.ptrNames, nil
	}
	names, _, err := e.r.LookupPTR(ctx, e.ip)
	if err != nil {
		if errors.Is(err, dns.ErrNotFound) {
			if o := e.void(); o != nil {
				return nil, o
			}
		}
		// RFC 7208 §5.5: a DNS error on the PTR lookup means no match.
		e.ptrDone = true
		return nil, nil
	}
	if len(names) > 10 {
		names = names[:10]
	}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		ips, err := e.addrs(ctx, n)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Equal(e.ip) {
				e.ptrNames = append(e.ptrNames, n)
				break
			}
		}
	}
	e.ptrDone = true
	return e.ptrNames, nil
}

// ptrMacro is %{p}: a validated name, preferring domain itself, then a
// subdomain of it (RFC 7208 §7.3).
func (e *eval) ptrMacro(ctx context.Context, domain string) string {
	names, o := e.validated(ctx)
	if o != nil || len(names) == 0 {
		return "unknown"
	}
	domain = strings.ToLower(domain)
	for _, n := range names {
		if n == domain {
			return n
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, "."+domain) {
			return n
		}
	}
	return names[0]
}

// explain computes the exp= text; any problem gives "" so the default
// explanation is used (RFC 7208 §6.2).
func (e *eval) explain(ctx context.Context, spec string, data *MacroData) string {
	t, err := e.expandDomain(spec, data)
	if err != nil || !validDomain(t) {
		return ""
	}
	txts, _, err := e.r.LookupTXT(ctx, t)
	if err != nil || len(txts) != 1 {
		return ""
	}
	s, err := ExpandMacro(txts[0], data, true)
	if err != nil {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}
