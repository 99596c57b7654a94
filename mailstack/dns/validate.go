package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	miekg "github.com/miekg/dns"
)

// validation is the state of one Lookup: its clock and its query budget.
type validation struct {
	r       *ValidatingResolver
	now     time.Time
	queries int
}

// zoneInfo is what the chain of trust says about a zone: its validated
// zone-signing keys when Secure, nothing when Insecure.
type zoneInfo struct {
	name string
	keys []*miekg.DNSKEY
	sec  Security
}

func bogus(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBogus, fmt.Sprintf(format, args...))
}

// weaker combines the security of two parts of one answer.
func weaker(a, b Security) Security {
	if a == Bogus || b == Bogus {
		return Bogus
	}
	if a == Insecure || b == Insecure {
		return Insecure
	}
	return Secure
}

// resolve follows the CNAME chain from qname and validates each step,
// then the final RRset or the denial of existence.
func (v *validation) resolve(ctx context.Context, qname string, qtype uint16) (*Answer, time.Duration, error) {
	ans := &Answer{Name: qname, Type: qtype, Security: Secure}
	ttl := uint32(1<<31 - 1)
	seen := map[string]bool{qname: true}
	sname, hops := qname, 0
	fail := func(err error) (*Answer, time.Duration, error) {
		ans.RRs = nil
		ans.Security = Insecure
		if errors.Is(err, ErrBogus) {
			ans.Security = Bogus
		}
		return ans, 0, fmt.Errorf("lookup %s %s: %w", qname, miekg.TypeToString[qtype], err)
	}
	for {
		msg, err := v.query(ctx, sname, qtype)
		if err != nil {
			return fail(err)
		}
		cur, moved := sname, false
		for {
			if set, sigs := rrset(msg.Answer, cur, qtype); len(set) > 0 {
				sec, err := v.verifyPositive(ctx, set, sigs, msg, qtype)
				if err != nil {
					return fail(err)
				}
				ans.RRs, ans.Name = set, cur
				ans.Security = weaker(ans.Security, sec)
				ttl = min(ttl, minTTL(set, sigs, v.now))
				return ans, clampTTL(ttl, v.r.cfg.MaxTTL), nil
			}
			cn, sigs := rrset(msg.Answer, cur, miekg.TypeCNAME)
			if len(cn) == 0 || qtype == miekg.TypeCNAME {
				break
			}
			target := miekg.CanonicalName(cn[0].(*miekg.CNAME).Target)
			var sec Security
			if d, dsigs := dnameFor(msg, cur, target); len(sigs) == 0 && d != nil {
				// A CNAME synthesized from a DNAME is unsigned; the
				// DNAME carries the proof (RFC 6672 §5.3.1).
				sec, err = v.verifyPositive(ctx, []miekg.RR{d}, dsigs, msg, miekg.TypeDNAME)
				ttl = min(ttl, minTTL([]miekg.RR{d}, dsigs, v.now))
			} else {
				sec, err = v.verifyPositive(ctx, cn, sigs, msg, miekg.TypeCNAME)
				ttl = min(ttl, minTTL(cn, sigs, v.now))
			}
			if err != nil {
				return fail(err)
			}
			ans.Security = weaker(ans.Security, sec)
			hops++
			if hops > v.r.cfg.MaxCNAME || seen[target] {
				return fail(fmt.Errorf("CNAME loop or chain over %d at %s: %w", v.r.cfg.MaxCNAME, target, ErrTemporary))
			}
			seen[target] = true
			cur, moved = target, true
		}
		if moved && msg.Rcode == miekg.RcodeSuccess && !hasAuthority(msg) {
			// The upstream stopped at the CNAME: ask for the target.
			sname = cur
			continue
		}
		sec, nttl, err := v.verifyNegative(ctx, cur, qtype, msg)
		if err != nil {
			return fail(err)
		}
		ans.Name, ans.RRs = cur, nil
		ans.Security = weaker(ans.Security, sec)
		ttl = min(ttl, nttl)
		what := "NODATA"
		if msg.Rcode == miekg.RcodeNameError {
			what = "NXDOMAIN"
		}
		return ans, clampTTL(ttl, v.r.cfg.NegativeTTL),
			fmt.Errorf("lookup %s %s: %s (%s): %w", qname, miekg.TypeToString[qtype], what, ans.Security, ErrNotFound)
	}
}

// dnameFor finds a DNAME of the answer that synthesizes the CNAME
// name → target, with its RRSIGs.
func dnameFor(msg *miekg.Msg, name, target string) (*miekg.DNAME, []*miekg.RRSIG) {
	for _, rr := range msg.Answer {
		d, ok := rr.(*miekg.DNAME)
		if !ok {
			continue
		}
		owner := miekg.CanonicalName(d.Hdr.Name)
		if owner == name || !miekg.IsSubDomain(owner, name) {
			continue
		}
		synth := strings.TrimSuffix(name, owner) + miekg.CanonicalName(d.Target)
		if synth != target {
			continue
		}
		set, sigs := rrset(msg.Answer, owner, miekg.TypeDNAME)
		if len(set) != 1 {
			continue
		}
		return set[0].(*miekg.DNAME), sigs
	}
	return nil, nil
}

func hasAuthority(msg *miekg.Msg) bool {
	for _, rr := range msg.Ns {
		switch rr.Header().Rrtype {
		case miekg.TypeSOA, miekg.TypeNSEC, miekg.TypeNSEC3:
			return true
		}
	}
	return false
}

// rrset returns the records of name/typ in section, with their owner
// names in canonical form, and the RRSIGs covering them.
func rrset(section []miekg.RR, name string, typ uint16) ([]miekg.RR, []*miekg.RRSIG) {
	var set []miekg.RR
	var sigs []*miekg.RRSIG
	for _, rr := range section {
		h := rr.Header()
		if h.Class != miekg.ClassINET || !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == typ {
			c := miekg.Copy(rr)
			c.Header().Name = miekg.CanonicalName(h.Name)
			dup := false
			for _, have := range set {
				// RFC 2181 §5: an RRset has no duplicates, and the
				// signature covers each record once.
				if miekg.IsDuplicate(have, c) {
					dup = true
					break
				}
			}
			if !dup {
				set = append(set, c)
			}
		} else if s, ok := rr.(*miekg.RRSIG); ok && s.TypeCovered == typ {
			sigs = append(sigs, s)
		}
	}
	return set, sigs
}

// minTTL is the cache lifetime of a validated RRset: its smallest TTL,
// at most the signed original TTL, cut short by the earliest signature
// expiry (RFC 4035 §5.3.3).
func minTTL(set []miekg.RR, sigs []*miekg.RRSIG, now time.Time) uint32 {
	ttl := uint32(1<<31 - 1)
	for _, rr := range set {
		ttl = min(ttl, rr.Header().Ttl)
	}
	for _, s := range sigs {
		ttl = min(ttl, s.OrigTtl)
		if left := int64(s.Expiration) - now.Unix(); left > 0 && left < int64(ttl) {
			ttl = uint32(left)
		}
	}
	return ttl
}

func parentName(name string) string {
	if name == "." {
		return "."
	}
	i, end := miekg.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// verifyPositive validates an RRset of the answer section.
func (v *validation) verifyPositive(ctx context.Context, set []miekg.RR, sigs []*miekg.RRSIG, msg *miekg.Msg, qtype uint16) (Security, error) {
	owner := set[0].Header().Name
	if len(sigs) == 0 {
		// Unsigned data is fine only in a zone proven insecure.
		target := owner
		if qtype == miekg.TypeDS {
			target = parentName(owner)
		}
		z, err := v.zone(ctx, target)
		if err != nil {
			return Bogus, err
		}
		if z.sec == Insecure {
			return Insecure, nil
		}
		return Bogus, bogus("%s %s: no RRSIG in secure zone %s", owner, miekg.TypeToString[qtype], z.name)
	}
	signer := miekg.CanonicalName(sigs[0].SignerName)
	if !miekg.IsSubDomain(signer, owner) {
		return Bogus, bogus("%s: signer %s is not an ancestor", owner, signer)
	}
	z, err := v.zone(ctx, signer)
	if err != nil {
		return Bogus, err
	}
	if z.sec == Insecure {
		return Insecure, nil
	}
	if z.name != signer {
		return Bogus, bogus("%s: signer %s is not a secure zone (enclosing zone %s)", owner, signer, z.name)
	}
	sig, err := v.verifySet(set, sigs, z)
	if err != nil {
		return Bogus, err
	}
	if int(sig.Labels) < miekg.CountLabel(owner) {
		// Expanded from a wildcard: the name itself must be proven
		// absent (RFC 4035 §5.3.4).
		if err := v.proveWildcard(owner, int(sig.Labels), msg, z); err != nil {
			return Bogus, err
		}
	}
	return Secure, nil
}

var supportedAlgs = map[uint8]bool{
	miekg.RSASHA256: true, miekg.RSASHA512: true,
	miekg.ECDSAP256SHA256: true, miekg.ECDSAP384SHA384: true, miekg.ED25519: true,
}

var supportedDigests = map[uint8]bool{miekg.SHA1: true, miekg.SHA256: true, miekg.SHA384: true}

// verifySet checks that one RRSIG by zone z's keys, valid now, signs set.
func (v *validation) verifySet(set []miekg.RR, sigs []*miekg.RRSIG, z zoneInfo) (*miekg.RRSIG, error) {
	owner := set[0].Header().Name
	reason := "no RRSIG by " + z.name
	for _, sig := range sigs {
		if miekg.CanonicalName(sig.SignerName) != z.name || !supportedAlgs[sig.Algorithm] {
			continue
		}
		if !miekg.IsSubDomain(z.name, owner) {
			reason = "owner outside signer's zone"
			continue
		}
		if !sig.ValidityPeriod(v.now) {
			reason = "RRSIG expired or not yet valid"
			continue
		}
		for _, k := range z.keys {
			if k.Algorithm != sig.Algorithm || k.KeyTag() != sig.KeyTag {
				continue
			}
			if err := safeVerify(sig, k, set); err == nil {
				return sig, nil
			}
			reason = "signature does not verify"
		}
	}
	return nil, bogus("%s %s: %s", owner, miekg.TypeToString[set[0].Header().Rrtype], reason)
}

// safeVerify verifies, turning a panic on malformed key or signature
// data into an error: hostile input must never crash the resolver.
func safeVerify(sig *miekg.RRSIG, k *miekg.DNSKEY, set []miekg.RR) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("verify panicked: %v", p)
		}
	}()
	return sig.Verify(k, set)
}

// zone walks the chain of trust from the deepest trust anchor above
// target down to the zone containing target, with one DS query per label
// (cached): a secure DS starts a secure zone, a proven DS absence at a
// delegation makes everything below Insecure (RFC 4035 §5.2).
func (v *validation) zone(ctx context.Context, target string) (zoneInfo, error) {
	target = miekg.CanonicalName(target)
	var best *anchor
	for _, a := range v.r.anchors {
		if miekg.IsSubDomain(a.zone, target) && (best == nil || miekg.CountLabel(a.zone) > miekg.CountLabel(best.zone)) {
			best = a
		}
	}
	if best == nil {
		return zoneInfo{name: ".", sec: Insecure}, nil
	}
	z, err := v.anchorZone(ctx, best)
	if err != nil || z.sec == Insecure {
		return z, err
	}
	labels := miekg.SplitDomainName(target)
	for i := len(labels) - miekg.CountLabel(best.zone) - 1; i >= 0; i-- {
		child := strings.Join(labels[i:], ".") + "."
		c, err := v.cut(ctx, child, z)
		if err != nil {
			return zoneInfo{name: child, sec: Bogus}, err
		}
		switch c.kind {
		case cutSecure:
			z = c.zone
		case cutInsecure:
			return zoneInfo{name: child, sec: Insecure}, nil
		case cutNX:
			return z, nil
		}
	}
	return z, nil
}

type cutKind int

const (
	cutNone     cutKind = iota // not a zone cut: same zone continues
	cutSecure                  // a signed child zone with validated keys
	cutInsecure                // a delegation proven to have no DS
	cutNX                      // the name does not exist, so nothing below does
)

type cutResult struct {
	kind cutKind
	zone zoneInfo
}

func (v *validation) anchorZone(ctx context.Context, a *anchor) (zoneInfo, error) {
	key := "anchor|" + a.zone
	if c, ok := v.r.cache.get(key, v.now); ok {
		return c.(zoneInfo), nil
	}
	keys, sec, ttl, err := v.dnskeys(ctx, a.zone, a.ds, a.dnskeys)
	if err != nil {
		return zoneInfo{name: a.zone, sec: Bogus}, err
	}
	z := zoneInfo{name: a.zone, keys: keys, sec: sec}
	v.r.cache.put(key, z, v.now.Add(clampTTL(ttl, v.r.cfg.MaxTTL)))
	return z, nil
}

// cut finds out what child is, below the validated zone parent.
func (v *validation) cut(ctx context.Context, child string, parent zoneInfo) (cutResult, error) {
	key := "cut|" + child + "|" + parent.name
	if c, ok := v.r.cache.get(key, v.now); ok {
		return c.(cutResult), nil
	}
	msg, err := v.query(ctx, child, miekg.TypeDS)
	if err != nil {
		return cutResult{}, err
	}
	var res cutResult
	var ttl uint32
	if set, sigs := rrset(msg.Answer, child, miekg.TypeDS); len(set) > 0 {
		if _, err := v.verifySet(set, sigs, parent); err != nil {
			return cutResult{}, err
		}
		var ds []*miekg.DS
		for _, rr := range set {
			ds = append(ds, rr.(*miekg.DS))
		}
		keys, sec, kttl, err := v.dnskeys(ctx, child, ds, nil)
		if err != nil {
			return cutResult{}, err
		}
		ttl = min(minTTL(set, sigs, v.now), kttl)
		res = cutResult{kind: cutSecure, zone: zoneInfo{name: child, keys: keys, sec: sec}}
		if sec == Insecure {
			res.kind = cutInsecure
		}
	} else if cn, sigs := rrset(msg.Answer, child, miekg.TypeCNAME); len(cn) > 0 {
		// A CNAME owner cannot be a delegation point.
		if _, err := v.verifySet(cn, sigs, parent); err != nil {
			return cutResult{}, err
		}
		res, ttl = cutResult{kind: cutNone}, minTTL(cn, sigs, v.now)
	} else {
		kind, err := v.proveDenial(child, miekg.TypeDS, msg, parent)
		if err != nil {
			return cutResult{}, err
		}
		switch kind {
		case denNoData:
			res.kind = cutNone
		case denNXDomain:
			res.kind = cutNX
		case denDelegation, denOptOut, denInsecure:
			res.kind = cutInsecure
		default:
			return cutResult{}, bogus("DS %s: no proof of absence from %s", child, parent.name)
		}
		ttl = negTTL(msg)
	}
	v.r.cache.put(key, res, v.now.Add(clampTTL(ttl, v.r.cfg.MaxTTL)))
	return res, nil
}

// dnskeys fetches zone's DNSKEY set and validates it against the DS
// records (or trusted keys) from its parent or a trust anchor. With no DS
// of a supported algorithm and digest the zone is Insecure (RFC 4035
// §5.2, RFC 6840 §5.2).
func (v *validation) dnskeys(ctx context.Context, zone string, ds []*miekg.DS, trusted []*miekg.DNSKEY) ([]*miekg.DNSKEY, Security, uint32, error) {
	usable := false
	for _, d := range ds {
		if supportedAlgs[d.Algorithm] && supportedDigests[d.DigestType] {
			usable = true
		}
	}
	for _, k := range trusted {
		if supportedAlgs[k.Algorithm] {
			usable = true
		}
	}
	if !usable {
		return nil, Insecure, 3600, nil
	}
	msg, err := v.query(ctx, zone, miekg.TypeDNSKEY)
	if err != nil {
		return nil, Bogus, 0, err
	}
	set, sigs := rrset(msg.Answer, zone, miekg.TypeDNSKEY)
	if len(set) == 0 {
		return nil, Bogus, 0, bogus("%s: no DNSKEY records", zone)
	}
	var all, sep []*miekg.DNSKEY
	for _, rr := range set {
		k := rr.(*miekg.DNSKEY)
		// RFC 5011 §2.1: a revoked key signs nothing any more.
		if k.Flags&miekg.ZONE == 0 || k.Flags&miekg.REVOKE != 0 || k.Protocol != 3 {
			continue
		}
		all = append(all, k)
		for _, d := range ds {
			if k.Algorithm != d.Algorithm || k.KeyTag() != d.KeyTag || !supportedDigests[d.DigestType] {
				continue
			}
			if got := k.ToDS(d.DigestType); got != nil && strings.EqualFold(got.Digest, d.Digest) {
				sep = append(sep, k)
			}
		}
		for _, t := range trusted {
			if k.Algorithm == t.Algorithm && k.PublicKey == t.PublicKey {
				sep = append(sep, k)
			}
		}
	}
	if len(sep) == 0 {
		return nil, Bogus, 0, bogus("%s: no DNSKEY matches the DS records", zone)
	}
	if _, err := v.verifySet(set, sigs, zoneInfo{name: zone, keys: sep, sec: Secure}); err != nil {
		return nil, Bogus, 0, err
	}
	return all, Secure, minTTL(set, sigs, v.now), nil
}

// negTTL is the negative caching time of a response (RFC 2308 §5): the
// smaller of the SOA's TTL and MINIMUM, 60s without SOA.
func negTTL(msg *miekg.Msg) uint32 {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*miekg.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 60
}

// verifyNegative validates a NXDOMAIN or NODATA answer for name/qtype.
func (v *validation) verifyNegative(ctx context.Context, name string, qtype uint16, msg *miekg.Msg) (Security, uint32, error) {
	target := name
	if qtype == miekg.TypeDS {
		target = parentName(name)
	}
	z, err := v.zone(ctx, target)
	if err != nil {
		return Bogus, 0, err
	}
	if z.sec == Insecure {
		return Insecure, negTTL(msg), nil
	}
	kind, err := v.proveDenial(name, qtype, msg, z)
	if err != nil {
		return Bogus, 0, err
	}
	switch kind {
	case denNoData, denNXDomain, denDelegation:
		return Secure, negTTL(msg), nil
	case denOptOut, denInsecure:
		return Insecure, negTTL(msg), nil
	}
	return Bogus, 0, bogus("%s %s: negative answer without valid NSEC/NSEC3 proof", name, miekg.TypeToString[qtype])
}
