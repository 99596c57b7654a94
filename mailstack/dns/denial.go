package dns

import (
	"strings"

	miekg "github.com/miekg/dns"
)

// denial is what the NSEC or NSEC3 records of a negative answer prove.
type denial int

const (
	denNone       denial = iota // nothing proven: bogus in a secure zone
	denNoData                   // the name exists without the type (or via a wildcard)
	denNXDomain                 // the name does not exist
	denDelegation               // (DS) the name is a delegation without DS: insecure child
	denOptOut                   // NSEC3 opt-out span: an unsigned delegation may exist
	denInsecure                 // NSEC3 parameters beyond what we validate (RFC 9276)
)

// maxNSEC3Iterations: more iterations are treated as insecure, as RFC
// 9276 §3.2 allows, to bound the hashing work hostile zones can cause.
const maxNSEC3Iterations = 150

// proveDenial checks the authority section's NSEC/NSEC3 records, signed
// by zone z, for the absence of name/qtype (RFC 4035 §5.4, RFC 5155 §8).
func (v *validation) proveDenial(name string, qtype uint16, msg *miekg.Msg, z zoneInfo) (denial, error) {
	name = miekg.CanonicalName(name)
	var nsecs []*miekg.NSEC
	var nsec3s []*miekg.NSEC3
	seen := map[string]bool{}
	for _, rr := range msg.Ns {
		h := rr.Header()
		if h.Rrtype != miekg.TypeNSEC && h.Rrtype != miekg.TypeNSEC3 {
			continue
		}
		owner := miekg.CanonicalName(h.Name)
		if seen[owner] || !miekg.IsSubDomain(z.name, owner) {
			continue
		}
		seen[owner] = true
		set, sigs := rrset(msg.Ns, owner, h.Rrtype)
		if len(set) != 1 {
			continue
		}
		if _, err := v.verifySet(set, sigs, z); err != nil {
			continue // unverifiable records prove nothing
		}
		switch r := set[0].(type) {
		case *miekg.NSEC:
			nsecs = append(nsecs, r)
		case *miekg.NSEC3:
			nsec3s = append(nsec3s, r)
		}
	}
	if len(nsecs) > 0 {
		if d := nsecDenial(name, qtype, nsecs, z.name); d != denNone {
			return d, nil
		}
	}
	if len(nsec3s) > 0 {
		return nsec3Denial(name, qtype, nsec3s, z.name), nil
	}
	return denNone, nil
}

func hasType(bitmap []uint16, t uint16) bool {
	for _, b := range bitmap {
		if b == t {
			return true
		}
	}
	return false
}

// typeAbsent reports whether a bitmap proves qtype absent at its owner:
// neither qtype nor a CNAME (which would have answered) is present.
func typeAbsent(bitmap []uint16, qtype uint16) bool {
	return !hasType(bitmap, qtype) && !hasType(bitmap, miekg.TypeCNAME)
}

// nodataKind refines a NODATA for DS at a delegation point.
func nodataKind(bitmap []uint16, qtype uint16) denial {
	if qtype == miekg.TypeDS && hasType(bitmap, miekg.TypeNS) && !hasType(bitmap, miekg.TypeSOA) {
		return denDelegation
	}
	return denNoData
}

// canonicalCompare orders names as RFC 4034 §6.1: label by label from the
// right, each compared as lower-case octets.
func canonicalCompare(a, b string) int {
	la, lb := miekg.SplitDomainName(strings.ToLower(a)), miekg.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		switch {
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		if c := strings.Compare(unescapeLabel(la[i]), unescapeLabel(lb[j])); c != 0 {
			return c
		}
	}
	return 0
}

// unescapeLabel turns a presentation-format label (\DDD and \X escapes)
// into its octets, which is what canonical order compares.
func unescapeLabel(l string) string {
	if !strings.Contains(l, "\\") {
		return l
	}
	var b []byte
	for i := 0; i < len(l); i++ {
		if l[i] != '\\' || i+1 >= len(l) {
			b = append(b, l[i])
			continue
		}
		if i+3 < len(l) && isDigit(l[i+1]) && isDigit(l[i+2]) && isDigit(l[i+3]) {
			n := int(l[i+1]-'0')*100 + int(l[i+2]-'0')*10 + int(l[i+3]-'0')
			b = append(b, byte(n))
			i += 3
			continue
		}
		b = append(b, l[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// nsecCovers reports whether the NSEC (owner, next) proves name absent:
// owner < name < next, the last NSEC of the zone wrapping to the apex.
func nsecCovers(n *miekg.NSEC, name string) bool {
	owner, next := n.Hdr.Name, n.NextDomain
	if canonicalCompare(owner, next) < 0 {
		return canonicalCompare(owner, name) < 0 && canonicalCompare(name, next) < 0
	}
	return canonicalCompare(owner, name) < 0 || canonicalCompare(name, next) < 0
}

// lastLabels returns the last n labels of name as a FQDN.
func lastLabels(name string, n int) string {
	labels := miekg.SplitDomainName(name)
	if n <= 0 {
		return "."
	}
	if n > len(labels) {
		n = len(labels)
	}
	return strings.Join(labels[len(labels)-n:], ".") + "."
}

func nsecDenial(name string, qtype uint16, nsecs []*miekg.NSEC, zone string) denial {
	for _, n := range nsecs {
		if strings.EqualFold(n.Hdr.Name, name) {
			if !typeAbsent(n.TypeBitMap, qtype) {
				return denNone
			}
			return nodataKind(n.TypeBitMap, qtype)
		}
	}
	var cover *miekg.NSEC
	for _, n := range nsecs {
		if nsecCovers(n, name) {
			cover = n
			break
		}
	}
	if cover == nil {
		return denNone
	}
	next := miekg.CanonicalName(cover.NextDomain)
	if next != name && miekg.IsSubDomain(name, next) {
		return denNoData // an empty non-terminal (RFC 4035 §3.1.3.2)
	}
	// The closest encloser is the longest ancestor of name shared with
	// the covering NSEC's ends; the wildcard below it must not exist.
	ce := max(miekg.CompareDomainName(name, cover.Hdr.Name), miekg.CompareDomainName(name, next), miekg.CountLabel(zone))
	wc := "*." + lastLabels(name, ce)
	if wc == "*.." {
		wc = "*."
	}
	for _, n := range nsecs {
		if strings.EqualFold(n.Hdr.Name, wc) {
			if !typeAbsent(n.TypeBitMap, qtype) {
				return denNone
			}
			return denNoData // wildcard NODATA (RFC 4035 §3.1.3.4)
		}
	}
	for _, n := range nsecs {
		if nsecCovers(n, wc) {
			return denNXDomain
		}
	}
	return denNone
}

func nsec3Denial(name string, qtype uint16, recs []*miekg.NSEC3, zone string) denial {
	var usable []*miekg.NSEC3
	for _, r := range recs {
		if r.Hash != miekg.SHA1 {
			continue
		}
		if r.Iterations > maxNSEC3Iterations {
			return denInsecure
		}
		usable = append(usable, r)
	}
	match := func(n string) *miekg.NSEC3 {
		for _, r := range usable {
			if r.Match(n) {
				return r
			}
		}
		return nil
	}
	cover := func(n string) *miekg.NSEC3 {
		for _, r := range usable {
			if r.Cover(n) && !r.Match(n) {
				return r
			}
		}
		return nil
	}
	if m := match(name); m != nil {
		if !typeAbsent(m.TypeBitMap, qtype) {
			return denNone
		}
		return nodataKind(m.TypeBitMap, qtype)
	}
	// Closest encloser proof (RFC 5155 §8.3): the longest existing
	// ancestor, and the next closer name below it covered.
	labels := miekg.SplitDomainName(name)
	zoneLabels := miekg.CountLabel(zone)
	ce, nc := "", ""
	for i := 1; i <= len(labels)-zoneLabels; i++ {
		cand := lastLabels(name, len(labels)-i)
		if match(cand) != nil {
			ce, nc = cand, lastLabels(name, len(labels)-i+1)
			break
		}
	}
	if ce == "" {
		return denNone
	}
	c := cover(nc)
	if c == nil {
		return denNone
	}
	optOut := c.Flags&1 == 1
	if qtype == miekg.TypeDS && optOut {
		return denOptOut // RFC 5155 §8.6: an unsigned delegation may be here
	}
	wc := "*." + ce
	if ce == "." {
		wc = "*."
	}
	if m := match(wc); m != nil {
		if !typeAbsent(m.TypeBitMap, qtype) {
			return denNone
		}
		return denNoData
	}
	if cover(wc) != nil {
		if optOut {
			return denOptOut // RFC 5155 §9.2: not a secure NXDOMAIN
		}
		return denNXDomain
	}
	return denNone
}

// proveWildcard checks that a wildcard-expanded owner does not exist
// itself, so the expansion was legitimate (RFC 4035 §5.3.4, RFC 5155 §8.8).
func (v *validation) proveWildcard(owner string, sigLabels int, msg *miekg.Msg, z zoneInfo) error {
	kind, _ := v.proveDenial(owner, 0, msg, z)
	switch kind {
	case denNXDomain, denOptOut:
		return nil
	}
	// The NSEC3 proof of an expansion carries only the next closer
	// name's cover, not the wildcard's: check it directly.
	nc := lastLabels(owner, sigLabels+1)
	for _, rr := range msg.Ns {
		n3, ok := rr.(*miekg.NSEC3)
		if !ok {
			continue
		}
		set, sigs := rrset(msg.Ns, n3.Hdr.Name, miekg.TypeNSEC3)
		if len(set) != 1 {
			continue
		}
		if _, err := v.verifySet(set, sigs, z); err == nil && n3.Cover(nc) && !n3.Match(nc) && n3.Iterations <= maxNSEC3Iterations {
			return nil
		}
	}
	for _, rr := range msg.Ns {
		n, ok := rr.(*miekg.NSEC)
		if !ok {
			continue
		}
		set, sigs := rrset(msg.Ns, n.Hdr.Name, miekg.TypeNSEC)
		if len(set) != 1 {
			continue
		}
		if _, err := v.verifySet(set, sigs, z); err == nil && nsecCovers(n, owner) {
			return nil
		}
	}
	return bogus("%s: wildcard expansion without proof that the name does not exist", owner)
}
