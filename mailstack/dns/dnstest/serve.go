package dnstest

import (
	"strings"

	"github.com/miekg/dns"
)

// findZone returns the deepest zone containing name; DS queries at a
// zone apex go to the parent, which holds the DS.
func (w *World) findZone(name string, qtype uint16) *zone {
	var best, second *zone
	for _, z := range w.zones {
		if !dns.IsSubDomain(z.name, name) {
			continue
		}
		if best == nil || dns.CountLabel(z.name) > dns.CountLabel(best.name) {
			best, second = z, best
		} else if second == nil || dns.CountLabel(z.name) > dns.CountLabel(second.name) {
			second = z
		}
	}
	if qtype == dns.TypeDS && best != nil && best.name == name && second != nil {
		return second
	}
	return best
}

func (w *World) handle(rw dns.ResponseWriter, req *dns.Msg) {
	w.Queries.Add(1)
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		rw.WriteMsg(m)
		return
	}
	q := req.Question[0]
	qname := dns.CanonicalName(q.Name)
	if dns.IsSubDomain("timeout.test.", qname) {
		return // never answered: the client times out
	}
	do := false
	udpSize := 512
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
		udpSize = int(opt.UDPSize())
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	w.answer(m, qname, q.Qtype, do)
	if f := w.tamper.Load(); f != nil {
		(*f)(q, m)
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(uint16(max(udpSize, 512)), do)
	}
	if rw.LocalAddr().Network() == "udp" {
		m.Truncate(max(udpSize, 512))
	}
	rw.WriteMsg(m)
}

// answer fills m like a recursive resolver would: following CNAMEs
// across zones, with signatures and denial proofs when do is set.
func (w *World) answer(m *dns.Msg, name string, qtype uint16, do bool) {
	for hop := 0; hop < 12; hop++ {
		z := w.findZone(name, qtype)
		if z == nil {
			m.Rcode = dns.RcodeServerFailure
			return
		}
		addSet := func(sec *[]dns.RR, owner string, typ uint16) {
			*sec = append(*sec, z.rrs[owner][typ]...)
			if do {
				*sec = append(*sec, z.sigs[owner][typ]...)
			}
		}
		if set := z.rrs[name][qtype]; len(set) > 0 {
			addSet(&m.Answer, name, qtype)
			return
		}
		if cn := z.rrs[name][dns.TypeCNAME]; len(cn) > 0 && qtype != dns.TypeCNAME {
			addSet(&m.Answer, name, dns.TypeCNAME)
			name = dns.CanonicalName(cn[0].(*dns.CNAME).Target)
			continue
		}
		if d := z.dnameAbove(name); d != nil {
			// RFC 6672: the DNAME, signed, and the CNAME it
			// synthesizes, unsigned.
			owner := d.Hdr.Name
			addSet(&m.Answer, owner, dns.TypeDNAME)
			target := strings.TrimSuffix(name, owner) + d.Target
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: target})
			name = target
			continue
		}
		soa := func() {
			addSet(&m.Ns, z.name, dns.TypeSOA)
		}
		if z.names[name] {
			soa()
			if do {
				z.proveNoData(m, name)
			}
			return
		}
		ce := z.closestEncloser(name)
		wc := "*." + ce
		if ce == "." {
			wc = "*."
		}
		if set := z.rrs[wc][qtype]; len(set) > 0 {
			for _, r := range set {
				c := dns.Copy(r)
				c.Header().Name = name
				m.Answer = append(m.Answer, c)
			}
			if do {
				for _, s := range z.sigs[wc][qtype] {
					c := dns.Copy(s)
					c.Header().Name = name
					m.Answer = append(m.Answer, c)
				}
				z.proveAbsent(m, name, ce, false)
			}
			return
		}
		soa()
		if z.names[wc] {
			if do {
				z.proveAbsent(m, name, ce, false)
				z.proveNoData(m, wc)
			}
			return
		}
		m.Rcode = dns.RcodeNameError
		if do {
			z.proveAbsent(m, name, ce, true)
		}
		return
	}
}

// dnameAbove returns a DNAME owned by a proper ancestor of name in z.
func (z *zone) dnameAbove(name string) *dns.DNAME {
	for n := parent(name); dns.IsSubDomain(z.name, n); n = parent(n) {
		if d := z.rrs[n][dns.TypeDNAME]; len(d) > 0 {
			return d[0].(*dns.DNAME)
		}
		if n == z.name || n == "." {
			break
		}
	}
	return nil
}

// closestEncloser is the longest existing ancestor of name in z.
func (z *zone) closestEncloser(name string) string {
	for n := name; ; n = parent(n) {
		if z.names[n] || n == z.name || n == "." {
			return n
		}
	}
}

func (z *zone) addDenial(m *dns.Msg, r dns.RR) {
	for _, have := range m.Ns {
		if have == r {
			return
		}
	}
	m.Ns = append(m.Ns, r)
	m.Ns = append(m.Ns, z.denialSigs[r.Header().Name]...)
}

// proveNoData adds the NSEC or NSEC3 record of an existing name.
func (z *zone) proveNoData(m *dns.Msg, name string) {
	if !z.signed {
		return
	}
	if z.nsec3 {
		if n := z.nsec3Match(name); n != nil {
			z.addDenial(m, n)
			return
		}
		// Opt-out: an unsigned delegation has no NSEC3; prove the
		// closest encloser and cover the next closer name.
		ce := parent(name)
		for z.nsec3Match(ce) == nil && ce != z.name {
			ce = parent(ce)
		}
		if n := z.nsec3Match(ce); n != nil {
			z.addDenial(m, n)
		}
		if n := z.nsec3Cover(name); n != nil {
			z.addDenial(m, n)
		}
		return
	}
	for _, n := range z.nsecs {
		if n.Hdr.Name == name {
			z.addDenial(m, n)
			return
		}
	}
	// An empty non-terminal: the NSEC before it covers it.
	if n := z.nsecCover(name); n != nil {
		z.addDenial(m, n)
	}
}

// proveAbsent proves name does not exist below closest encloser ce, and,
// when nx, that the wildcard at ce does not exist either.
func (z *zone) proveAbsent(m *dns.Msg, name, ce string, nx bool) {
	if !z.signed {
		return
	}
	wc := "*." + ce
	if ce == "." {
		wc = "*."
	}
	if z.nsec3 {
		if nx {
			if n := z.nsec3Match(ce); n != nil {
				z.addDenial(m, n)
			}
		}
		nc := name
		for parent(nc) != ce {
			nc = parent(nc)
		}
		if n := z.nsec3Cover(nc); n != nil {
			z.addDenial(m, n)
		}
		if nx {
			if n := z.nsec3Cover(wc); n != nil {
				z.addDenial(m, n)
			}
		} else if n := z.nsec3Match(ce); n != nil {
			z.addDenial(m, n)
		}
		return
	}
	if n := z.nsecCover(name); n != nil {
		z.addDenial(m, n)
	}
	if nx {
		if n := z.nsecCover(wc); n != nil {
			z.addDenial(m, n)
		}
	}
}

func (z *zone) nsecCover(name string) *dns.NSEC {
	for _, n := range z.nsecs {
		owner, next := n.Hdr.Name, n.NextDomain
		if canonicalLess(owner, next) {
			if canonicalLess(owner, name) && canonicalLess(name, next) {
				return n
			}
		} else if canonicalLess(owner, name) || canonicalLess(name, next) {
			return n
		}
	}
	return nil
}

func (z *zone) nsec3Match(name string) *dns.NSEC3 {
	h := strings.ToLower(dns.HashName(name, dns.SHA1, 0, ""))
	for _, n := range z.nsec3s {
		if strings.HasPrefix(n.Hdr.Name, h+".") {
			return n
		}
	}
	return nil
}

func (z *zone) nsec3Cover(name string) *dns.NSEC3 {
	for _, n := range z.nsec3s {
		if n.Cover(name) && !n.Match(name) {
			return n
		}
	}
	return nil
}
