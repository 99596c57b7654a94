package dnstest

import (
	"crypto"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// World is a DNSSEC-signed DNS tree served on loopback, answering like a
// recursive resolver that has already resolved everything: any name of
// any zone, DS and DNSKEY queries included, with RRSIGs and NSEC/NSEC3
// proofs when the query has the DO bit. Its own root replaces the real
// one: give Anchors to the resolver under test.
//
// The zones (all under the fake TLD "test."):
//
//	.                 RSA/SHA-256 KSK+ZSK, NSEC
//	test.             ECDSA P-256, NSEC
//	secure.test.      Ed25519, NSEC: apex A/MX/TXT, mail (A, AAAA), www,
//	                  nodata (TXT only), *.wild (TXT), c1→c2→www CNAME
//	                  chain, loop1↔loop2 CNAME loop, out→www.insecure.test.,
//	                  dn DNAME nsec3.test.,
//	                  big (TXT over 1232 octets: truncated on UDP)
//	insecure.test.    unsigned, no DS in test.: apex TXT, www A
//	bogus.test.       ECDSA, NSEC: good (valid), badsig (corrupt RRSIG),
//	                  expired (RRSIG expired), nosig (no RRSIG)
//	wrongds.test.     signed, but test.'s DS matches none of its keys
//	nsec3.test.       ECDSA, NSEC3 (no opt-out): apex TXT, www A, *.wild TXT
//	optout.test.      ECDSA, NSEC3 opt-out; unsigned.optout.test. is an
//	                  unsigned delegation (zone with www A)
//	timeout.test.     never answered
type World struct {
	// Addr is the server's UDP and TCP address, 127.0.0.1:port.
	Addr string
	// Anchors is the fake root's trust anchor, a DS record.
	Anchors []string
	// AnchorKeys is the same anchor as the root's DNSKEY record.
	AnchorKeys []string
	// Queries counts the queries answered (time-outs included).
	Queries atomic.Int64

	zones  []*zone
	tamper atomic.Pointer[func(q dns.Question, m *dns.Msg)]
}

// SetTamper installs f to rewrite every response before it is sent, to
// play an on-path attacker (strip signatures, forge records); nil removes
// it.
func (w *World) SetTamper(f func(q dns.Question, m *dns.Msg)) {
	if f == nil {
		w.tamper.Store(nil)
		return
	}
	w.tamper.Store(&f)
}

type zone struct {
	name         string
	signed       bool
	nsec3        bool
	optOut       bool
	ksk, zsk     *dns.DNSKEY
	kskPriv      crypto.Signer
	zskPriv      crypto.Signer
	rrs          map[string]map[uint16][]dns.RR
	sigs         map[string]map[uint16][]dns.RR
	names        map[string]bool // owners and empty non-terminals
	nsecs        []*dns.NSEC
	nsec3s       []*dns.NSEC3
	denialSigs   map[string][]dns.RR
	sigInception time.Time
}

const ttl = 300

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR("$TTL 300\n" + s)
	if err != nil || r == nil {
		t.Fatalf("dnstest: NewRR(%q): %v", s, err)
	}
	return r
}

func newZone(t testing.TB, name string, alg uint8, signed bool, records ...string) *zone {
	t.Helper()
	z := &zone{name: name, signed: signed, rrs: map[string]map[uint16][]dns.RR{}, sigs: map[string]map[uint16][]dns.RR{},
		names: map[string]bool{}, denialSigs: map[string][]dns.RR{}}
	z.add(rr(t, fmt.Sprintf("%s SOA %s %s 1 3600 600 86400 300", name, nsName(name), nsName(name))))
	z.add(rr(t, fmt.Sprintf("%s NS %s", name, nsName(name))))
	for _, s := range records {
		z.add(rr(t, s))
	}
	if signed {
		bits := map[uint8]int{dns.RSASHA256: 1024, dns.ECDSAP256SHA256: 256, dns.ED25519: 256}[alg]
		z.ksk, z.kskPriv = genKey(t, name, alg, 257, bits)
		z.zsk, z.zskPriv = genKey(t, name, alg, 256, bits)
		z.add(z.ksk)
		z.add(z.zsk)
	}
	return z
}

func nsName(zone string) string {
	if zone == "." {
		return "ns.root-servers.test."
	}
	return "ns." + zone
}

func genKey(t testing.TB, zone string, alg uint8, flags uint16, bits int) (*dns.DNSKEY, crypto.Signer) {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
		Flags: flags, Protocol: 3, Algorithm: alg}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatalf("dnstest: generate key for %s: %v", zone, err)
	}
	return k, priv.(crypto.Signer)
}

func (z *zone) add(r dns.RR) {
	h := r.Header()
	h.Name = dns.CanonicalName(h.Name)
	if z.rrs[h.Name] == nil {
		z.rrs[h.Name] = map[uint16][]dns.RR{}
	}
	z.rrs[h.Name][h.Rrtype] = append(z.rrs[h.Name][h.Rrtype], r)
}

// delegate adds child's NS to z, and a DS when child is signed (or the DS
// of an unrelated key when wrongDS).
func (z *zone) delegate(t testing.TB, child *zone, wrongDS bool) {
	z.add(rr(t, fmt.Sprintf("%s NS %s", child.name, nsName(child.name))))
	if !child.signed {
		return
	}
	k := child.ksk
	if wrongDS {
		k, _ = genKey(t, child.name, dns.ED25519, 257, 256)
	}
	ds := k.ToDS(dns.SHA256)
	ds.Hdr.Ttl = ttl
	z.add(ds)
}

func (z *zone) isDelegation(name string) bool {
	_, ns := z.rrs[name][dns.TypeNS]
	return ns && name != z.name
}

// sign builds the denial chain and signs every authoritative RRset;
// faults maps owner names to "badsig", "expired" or "nosig".
func (z *zone) sign(t testing.TB, faults map[string]string) {
	t.Helper()
	for name := range z.rrs {
		for n := name; dns.IsSubDomain(z.name, n); n = parent(n) {
			z.names[n] = true
			if n == z.name {
				break
			}
		}
	}
	if !z.signed {
		return
	}
	z.sigInception = time.Now().Add(-time.Hour)
	if z.nsec3 {
		z.buildNSEC3(t)
	} else {
		z.buildNSEC()
	}
	for name, types := range z.rrs {
		for typ, set := range types {
			if z.isDelegation(name) && typ != dns.TypeDS {
				continue // delegation NS is not authoritative data
			}
			fault := faults[name]
			if fault == "nosig" {
				continue
			}
			key, priv := z.zsk, z.zskPriv
			if typ == dns.TypeDNSKEY {
				key, priv = z.ksk, z.kskPriv
			}
			sig := z.signSet(t, set, key, priv, fault)
			if z.sigs[name] == nil {
				z.sigs[name] = map[uint16][]dns.RR{}
			}
			z.sigs[name][typ] = []dns.RR{sig}
		}
	}
	for _, n := range z.nsecs {
		z.denialSigs[n.Hdr.Name] = []dns.RR{z.signSet(t, []dns.RR{n}, z.zsk, z.zskPriv, "")}
	}
	for _, n := range z.nsec3s {
		z.denialSigs[n.Hdr.Name] = []dns.RR{z.signSet(t, []dns.RR{n}, z.zsk, z.zskPriv, "")}
	}
}

func (z *zone) signSet(t testing.TB, set []dns.RR, key *dns.DNSKEY, priv crypto.Signer, fault string) *dns.RRSIG {
	t.Helper()
	inc, exp := z.sigInception, z.sigInception.Add(8*24*time.Hour)
	if fault == "expired" {
		inc, exp = z.sigInception.Add(-30*24*time.Hour), z.sigInception.Add(-2*24*time.Hour)
	}
	sig := &dns.RRSIG{Hdr: dns.RR_Header{Ttl: ttl}, Algorithm: key.Algorithm, KeyTag: key.KeyTag(),
		SignerName: z.name, Inception: uint32(inc.Unix()), Expiration: uint32(exp.Unix())}
	if err := sig.Sign(priv, set); err != nil {
		t.Fatalf("dnstest: sign %s: %v", set[0].Header().Name, err)
	}
	if fault == "badsig" {
		b := []byte(sig.Signature)
		if b[4] == 'A' {
			b[4] = 'B'
		} else {
			b[4] = 'A'
		}
		sig.Signature = string(b)
	}
	return sig
}

func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

func (z *zone) types(name string) []uint16 {
	var ts []uint16
	for typ := range z.rrs[name] {
		ts = append(ts, typ)
	}
	return ts
}

func (z *zone) buildNSEC() {
	var owners []string
	for name := range z.rrs {
		owners = append(owners, name)
	}
	sort.Slice(owners, func(i, j int) bool { return canonicalLess(owners[i], owners[j]) })
	for i, name := range owners {
		types := append(z.types(name), dns.TypeNSEC, dns.TypeRRSIG)
		sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
		next := owners[(i+1)%len(owners)]
		z.nsecs = append(z.nsecs, &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: next, TypeBitMap: types})
	}
}

func (z *zone) buildNSEC3(t testing.TB) {
	z.add(&dns.NSEC3PARAM{Hdr: dns.RR_Header{Name: z.name, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
		Hash: dns.SHA1, Iterations: 0})
	type entry struct{ hash, name string }
	var entries []entry
	for name := range z.names {
		if z.optOut && z.isDelegation(name) && len(z.rrs[name][dns.TypeDS]) == 0 {
			continue // opt-out: unsigned delegations stay out of the chain
		}
		entries = append(entries, entry{dns.HashName(name, dns.SHA1, 0, ""), name})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].hash < entries[j].hash })
	flags := uint8(0)
	if z.optOut {
		flags = 1
	}
	for i, e := range entries {
		var types []uint16
		if len(z.rrs[e.name]) > 0 {
			types = append(z.types(e.name), dns.TypeRRSIG)
			if z.isDelegation(e.name) && len(z.rrs[e.name][dns.TypeDS]) == 0 {
				types = z.types(e.name)
			}
		}
		sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
		z.nsec3s = append(z.nsec3s, &dns.NSEC3{
			Hdr:  dns.RR_Header{Name: strings.ToLower(e.hash) + "." + z.name, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
			Hash: dns.SHA1, Flags: flags, Iterations: 0, HashLength: 20,
			NextDomain: entries[(i+1)%len(entries)].hash, TypeBitMap: types,
		})
	}
}

// canonicalLess orders names as RFC 4034 §6.1.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		if i < 0 {
			return true
		}
		if j < 0 {
			return false
		}
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[j])); c != 0 {
			return c < 0
		}
	}
	return false
}

// NewWorld builds and signs the zones and serves them on 127.0.0.1:0
// over UDP and TCP until the test ends.
//
// Records adds records (zone-file lines, TTL 300 by default) to the zone
// that contains each owner name, before signing: tests of DKIM, DMARC or
// the SMTP receiver put their own data in secure.test., insecure.test.
// or bogus.test. (where "badsig", "expired" and "nosig" labels keep
// their faults only for those exact names).
func NewWorld(t testing.TB, records ...string) *World {
	t.Helper()
	w := &World{}
	root := newZone(t, ".", dns.RSASHA256, true)
	tld := newZone(t, "test.", dns.ECDSAP256SHA256, true)
	secure := newZone(t, "secure.test.", dns.ED25519, true,
		"secure.test. A 192.0.2.1",
		"secure.test. MX 10 mail.secure.test.",
		`secure.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		"mail.secure.test. A 192.0.2.25",
		"mail.secure.test. AAAA 2001:db8::25",
		"www.secure.test. A 192.0.2.80",
		`nodata.secure.test. TXT "only text here"`,
		`*.wild.secure.test. TXT "wildcard"`,
		"c1.secure.test. CNAME c2.secure.test.",
		"c2.secure.test. CNAME www.secure.test.",
		"loop1.secure.test. CNAME loop2.secure.test.",
		"loop2.secure.test. CNAME loop1.secure.test.",
		"out.secure.test. CNAME www.insecure.test.",
		"dn.secure.test. DNAME nsec3.test.",
		`big.secure.test. TXT "`+strings.Repeat("a", 250)+`" "`+strings.Repeat("b", 250)+`" "`+strings.Repeat("c", 250)+`" "`+strings.Repeat("d", 250)+`" "`+strings.Repeat("e", 250)+`"`,
	)
	insecure := newZone(t, "insecure.test.", 0, false,
		`insecure.test. TXT "v=spf1 -all"`, "www.insecure.test. A 192.0.2.99")
	bogus := newZone(t, "bogus.test.", dns.ECDSAP256SHA256, true,
		"good.bogus.test. A 192.0.2.10", "badsig.bogus.test. A 192.0.2.11",
		"expired.bogus.test. A 192.0.2.12", "nosig.bogus.test. A 192.0.2.13")
	wrongds := newZone(t, "wrongds.test.", dns.ECDSAP256SHA256, true, "www.wrongds.test. A 192.0.2.20")
	nsec3 := newZone(t, "nsec3.test.", dns.ECDSAP256SHA256, true,
		`nsec3.test. TXT "v=spf1 -all"`, "www.nsec3.test. A 192.0.2.30", `*.wild.nsec3.test. TXT "wildcard3"`)
	nsec3.nsec3 = true
	optout := newZone(t, "optout.test.", dns.ECDSAP256SHA256, true, "www.optout.test. A 192.0.2.40")
	optout.nsec3, optout.optOut = true, true
	unsigned := newZone(t, "unsigned.optout.test.", 0, false, "www.unsigned.optout.test. A 192.0.2.41")
	timeout := newZone(t, "timeout.test.", 0, false)

	all := []*zone{root, tld, secure, insecure, bogus, wrongds, nsec3, optout, unsigned, timeout}
	for _, line := range records {
		r := rr(t, line)
		var best *zone
		for _, z := range all {
			if dns.IsSubDomain(z.name, dns.CanonicalName(r.Header().Name)) && (best == nil || dns.CountLabel(z.name) > dns.CountLabel(best.name)) {
				best = z
			}
		}
		best.add(r)
	}
	root.delegate(t, tld, false)
	for _, c := range []*zone{secure, insecure, bogus, nsec3, optout, timeout} {
		tld.delegate(t, c, false)
	}
	tld.delegate(t, wrongds, true)
	optout.delegate(t, unsigned, false)
	for _, z := range []*zone{root, tld, secure, insecure, wrongds, nsec3, optout, unsigned, timeout} {
		z.sign(t, nil)
	}
	bogus.sign(t, map[string]string{"badsig.bogus.test.": "badsig", "expired.bogus.test.": "expired", "nosig.bogus.test.": "nosig"})
	w.zones = all
	ds := root.ksk.ToDS(dns.SHA256)
	w.Anchors = []string{ds.String()}
	w.AnchorKeys = []string{root.ksk.String()}
	w.serve(t)
	return w
}

func (w *World) serve(t testing.TB) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if i > 10 {
			t.Fatalf("dnstest: listen tcp: %v", err)
		}
	}
	w.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(w.handle)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
}
