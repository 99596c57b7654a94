package dns_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

// testClock is a settable clock for cache expiry.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func newResolver(t *testing.T, w *dnstest.World, mod func(*dns.Config)) *dns.ValidatingResolver {
	t.Helper()
	cfg := dns.Config{Upstreams: []string{w.Addr}, TrustAnchors: w.Anchors, Timeout: 300 * time.Millisecond, Attempts: 1}
	if mod != nil {
		mod(&cfg)
	}
	r, err := dns.NewValidatingResolver(cfg)
	if err != nil {
		t.Fatalf("NewValidatingResolver: %v", err)
	}
	return r
}

func TestValidation(t *testing.T) {
	w := dnstest.NewWorld(t)
	r := newResolver(t, w, nil)
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		wantSec dns.Security
		wantErr error
		wantRRs int
	}{
		{"secure A", "www.secure.test", miekg.TypeA, dns.Secure, nil, 1},
		{"secure apex MX", "secure.test.", miekg.TypeMX, dns.Secure, nil, 1},
		{"secure AAAA", "mail.secure.test", miekg.TypeAAAA, dns.Secure, nil, 1},
		{"NSEC NXDOMAIN", "nx.secure.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC NODATA", "nodata.secure.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC empty non-terminal", "wild.secure.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC wildcard expansion", "foo.wild.secure.test", miekg.TypeTXT, dns.Secure, nil, 1},
		{"NSEC wildcard NODATA", "foo.wild.secure.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"CNAME chain", "c1.secure.test", miekg.TypeA, dns.Secure, nil, 1},
		{"CNAME loop", "loop1.secure.test", miekg.TypeA, dns.Insecure, dns.ErrTemporary, 0},
		{"DNAME", "www.dn.secure.test", miekg.TypeA, dns.Secure, nil, 1},
		{"CNAME into insecure zone", "out.secure.test", miekg.TypeA, dns.Insecure, nil, 1},
		{"insecure delegation", "www.insecure.test", miekg.TypeA, dns.Insecure, nil, 1},
		{"insecure NXDOMAIN", "nx.insecure.test", miekg.TypeA, dns.Insecure, dns.ErrNotFound, 0},
		{"truncated UDP retried on TCP", "big.secure.test", miekg.TypeTXT, dns.Secure, nil, 1},
		{"bogus signature", "badsig.bogus.test", miekg.TypeA, dns.Bogus, dns.ErrBogus, 0},
		{"bogus expired RRSIG", "expired.bogus.test", miekg.TypeA, dns.Bogus, dns.ErrBogus, 0},
		{"bogus missing RRSIG", "nosig.bogus.test", miekg.TypeA, dns.Bogus, dns.ErrBogus, 0},
		{"valid name in zone with bogus names", "good.bogus.test", miekg.TypeA, dns.Secure, nil, 1},
		{"DS matches no key", "www.wrongds.test", miekg.TypeA, dns.Bogus, dns.ErrBogus, 0},
		{"NSEC3 positive", "www.nsec3.test", miekg.TypeA, dns.Secure, nil, 1},
		{"NSEC3 NXDOMAIN", "nx.nsec3.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC3 NODATA", "www.nsec3.test", miekg.TypeTXT, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC3 wildcard expansion", "a.wild.nsec3.test", miekg.TypeTXT, dns.Secure, nil, 1},
		{"NSEC3 wildcard NODATA", "a.wild.nsec3.test", miekg.TypeA, dns.Secure, dns.ErrNotFound, 0},
		{"NSEC3 opt-out unsigned delegation", "www.unsigned.optout.test", miekg.TypeA, dns.Insecure, nil, 1},
		{"NSEC3 opt-out NXDOMAIN is insecure", "nx.optout.test", miekg.TypeA, dns.Insecure, dns.ErrNotFound, 0},
		{"plain-text name with spaces and %", "macro%percent  space.secure.test", miekg.TypeTXT, dns.Secure, dns.ErrNotFound, 0},
		{"invalid name", "a..b.secure.test", miekg.TypeTXT, dns.Insecure, dns.ErrNotFound, 0},
		{"time-out", "www.timeout.test", miekg.TypeA, dns.Insecure, dns.ErrTemporary, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := r.Lookup(t.Context(), tt.qname, tt.qtype)
			t.Logf("Lookup(%s, %s): err=%v", tt.qname, miekg.TypeToString[tt.qtype], err)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Lookup(%s, %s) error = %v, want %v", tt.qname, miekg.TypeToString[tt.qtype], err, tt.wantErr)
			}
			if ans == nil {
				t.Fatalf("Lookup(%s) answer is nil", tt.qname)
			}
			if ans.Security != tt.wantSec || len(ans.RRs) != tt.wantRRs {
				t.Fatalf("Lookup(%s, %s) = %s with %d records (%v), want %s with %d",
					tt.qname, miekg.TypeToString[tt.qtype], ans.Security, len(ans.RRs), err, tt.wantSec, tt.wantRRs)
			}
			if tt.wantSec == dns.Bogus && !errors.Is(err, dns.ErrTemporary) {
				t.Errorf("bogus error %v does not wrap ErrTemporary", err)
			}
		})
	}
}

// TestResolverInterface checks the Resolver methods over the world.
func TestResolverInterface(t *testing.T) {
	w := dnstest.NewWorld(t)
	r := newResolver(t, w, nil)
	ctx := t.Context()
	txt, sec, err := r.LookupTXT(ctx, "secure.test")
	if err != nil || sec != dns.Secure || len(txt) != 1 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Errorf("LookupTXT = %q, %s, %v", txt, sec, err)
	}
	big, _, err := r.LookupTXT(ctx, "big.secure.test")
	if err != nil || len(big) != 1 || len(big[0]) != 1250 {
		t.Errorf("LookupTXT(big) joined length = %d, %v; want one record of 1250 octets", len(big), err)
	}
	mx, sec, err := r.LookupMX(ctx, "secure.test")
	if err != nil || sec != dns.Secure || len(mx) != 1 || mx[0].Host != "mail.secure.test." || mx[0].Pref != 10 {
		t.Errorf("LookupMX = %v, %s, %v", mx, sec, err)
	}
	ips, sec, err := r.LookupIP(ctx, "mail.secure.test")
	if err != nil || sec != dns.Secure || len(ips) != 2 {
		t.Errorf("LookupIP = %v, %s, %v", ips, sec, err)
	}
	ips, sec, err = r.LookupIP(ctx, "www.insecure.test")
	if err != nil || sec != dns.Insecure || len(ips) != 1 {
		t.Errorf("LookupIP(insecure) = %v, %s, %v", ips, sec, err)
	}
	if _, _, err := r.LookupA(ctx, "badsig.bogus.test"); !errors.Is(err, dns.ErrTemporary) {
		t.Errorf("LookupA(bogus) error = %v, want ErrTemporary", err)
	}
	if _, _, err := r.LookupAAAA(ctx, "nx.secure.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("LookupAAAA(nx) error = %v, want ErrNotFound", err)
	}
}

// TestTrustAnchors: the real root's anchors do not trust the fake root,
// so everything is bogus; with no anchor everything is insecure.
func TestTrustAnchors(t *testing.T) {
	w := dnstest.NewWorld(t)
	tests := []struct {
		name    string
		anchors []string
		want    dns.Security
	}{
		{"world anchor", w.Anchors, dns.Secure},
		{"world anchor as DNSKEY", w.AnchorKeys, dns.Secure},
		{"real root anchors", dns.RootAnchors, dns.Bogus},
		{"no anchor", []string{}, dns.Insecure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, w, func(c *dns.Config) { c.TrustAnchors = tt.anchors })
			ans, _ := r.Lookup(t.Context(), "www.secure.test", miekg.TypeA)
			if ans.Security != tt.want {
				t.Errorf("Lookup with %s = %s, want %s", tt.name, ans.Security, tt.want)
			}
		})
	}
}

func TestCaching(t *testing.T) {
	w := dnstest.NewWorld(t)
	clock := &testClock{}
	r := newResolver(t, w, func(c *dns.Config) { c.Now = clock.now; c.CacheSize = 100 })
	ctx := t.Context()
	tests := []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"positive", "www.secure.test", miekg.TypeA},
		{"negative NXDOMAIN", "nx.secure.test", miekg.TypeA},
		{"negative NODATA", "nodata.secure.test", miekg.TypeA},
		{"bogus", "badsig.bogus.test", miekg.TypeA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err1 := r.Lookup(ctx, tt.qname, tt.qtype)
			before := w.Queries.Load()
			second, err2 := r.Lookup(ctx, tt.qname, tt.qtype)
			if n := w.Queries.Load() - before; n != 0 {
				t.Errorf("second Lookup(%s) sent %d queries, want 0 (cached)", tt.qname, n)
			}
			if first.Security != second.Security || (err1 == nil) != (err2 == nil) {
				t.Errorf("cached answer differs: %s/%v then %s/%v", first.Security, err1, second.Security, err2)
			}
		})
	}
	// TTLs are 300s (negative: SOA minimum 300s, bogus: 30s): past
	// them the resolver asks again.
	clock.advance(301 * time.Second)
	before := w.Queries.Load()
	if _, err := r.Lookup(ctx, "www.secure.test", miekg.TypeA); err != nil {
		t.Fatal(err)
	}
	if w.Queries.Load() == before {
		t.Errorf("Lookup after TTL expiry sent no query")
	}

	// Time-outs are not cached.
	before = w.Queries.Load()
	r.Lookup(ctx, "www.timeout.test", miekg.TypeA)
	mid := w.Queries.Load()
	r.Lookup(ctx, "www.timeout.test", miekg.TypeA)
	if mid == before || w.Queries.Load() == mid {
		t.Errorf("time-outs were cached: queries %d, %d, %d", before, mid, w.Queries.Load())
	}
}

// TestWorldRecords: tests of other packages add their own records.
func TestWorldRecords(t *testing.T) {
	w := dnstest.NewWorld(t, `sel._domainkey.secure.test. TXT "v=DKIM1; p=abc"`, "mx.insecure.test. A 192.0.2.200")
	r := newResolver(t, w, nil)
	txt, sec, err := r.LookupTXT(t.Context(), "sel._domainkey.secure.test")
	if err != nil || sec != dns.Secure || len(txt) != 1 {
		t.Errorf("LookupTXT(added secure record) = %q, %s, %v", txt, sec, err)
	}
	ips, sec, err := r.LookupA(t.Context(), "mx.insecure.test")
	if err != nil || sec != dns.Insecure || len(ips) != 1 {
		t.Errorf("LookupA(added insecure record) = %v, %s, %v", ips, sec, err)
	}
}

func TestCacheBound(t *testing.T) {
	w := dnstest.NewWorld(t)
	r := newResolver(t, w, func(c *dns.Config) { c.CacheSize = 3 })
	for _, n := range []string{"www.secure.test", "mail.secure.test", "secure.test", "c1.secure.test", "nx.secure.test"} {
		r.Lookup(t.Context(), n, miekg.TypeA)
		if got := r.CacheLen(); got > 3 {
			t.Fatalf("CacheLen() = %d after %s, want at most 3", got, n)
		}
	}
}

func TestTimeoutRespectsContext(t *testing.T) {
	w := dnstest.NewWorld(t)
	r := newResolver(t, w, func(c *dns.Config) { c.Timeout = 10 * time.Second; c.Attempts = 3 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Lookup(ctx, "www.timeout.test", miekg.TypeA)
	if !errors.Is(err, dns.ErrTemporary) {
		t.Fatalf("Lookup error = %v, want ErrTemporary", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Lookup took %s despite a 100ms context deadline", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  dns.Config
		ok   bool
	}{
		{"default", dns.DefaultConfig(), true},
		{"bad upstream", dns.Config{Upstreams: []string{"127.0.0.1"}}, false},
		{"bad anchor", dns.Config{TrustAnchors: []string{". IN A 1.2.3.4"}}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func without(rrs []miekg.RR, drop func(miekg.RR) bool) []miekg.RR {
	var out []miekg.RR
	for _, r := range rrs {
		if !drop(r) {
			out = append(out, r)
		}
	}
	return out
}

func isType(t uint16) func(miekg.RR) bool {
	return func(r miekg.RR) bool { return r.Header().Rrtype == t }
}

// TestForgedAnswers plays an on-path attacker between the resolver and
// its upstream: every forgery of signed data must come out Bogus (an
// ErrTemporary), never as data or as a secure NXDOMAIN.
func TestForgedAnswers(t *testing.T) {
	w := dnstest.NewWorld(t)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		tamper func(q miekg.Question, m *miekg.Msg)
	}{
		{"answer RRSIG stripped", "www.secure.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			m.Answer = without(m.Answer, isType(miekg.TypeRRSIG))
		}},
		{"address replaced", "www.secure.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			for _, r := range m.Answer {
				if a, ok := r.(*miekg.A); ok {
					a.A = []byte{203, 0, 113, 66}
				}
			}
		}},
		{"NXDOMAIN without NSEC", "nx.secure.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			m.Ns = without(m.Ns, func(r miekg.RR) bool {
				return r.Header().Rrtype == miekg.TypeNSEC || r.Header().Rrtype == miekg.TypeRRSIG
			})
		}},
		{"NXDOMAIN forged for existing name", "www.secure.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			m.Answer = nil
			m.Rcode = miekg.RcodeNameError
		}},
		{"NSEC3 proof stripped", "nx.nsec3.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			m.Ns = without(m.Ns, isType(miekg.TypeNSEC3))
		}},
		{"CNAME synthesized from DNAME redirected", "www.dn.secure.test", miekg.TypeA, func(q miekg.Question, m *miekg.Msg) {
			for _, r := range m.Answer {
				if c, ok := r.(*miekg.CNAME); ok {
					c.Target = "www.secure.test."
				}
			}
		}},
		{"wildcard without proof", "foo.wild.secure.test", miekg.TypeTXT, func(q miekg.Question, m *miekg.Msg) {
			m.Ns = nil
		}},
	}
	// Forgeries on the chain of trust rather than on the answer.
	chain := []struct {
		name   string
		tamper func(q miekg.Question, m *miekg.Msg)
	}{
		{"DS stripped to fake an insecure delegation", func(q miekg.Question, m *miekg.Msg) {
			if q.Qtype == miekg.TypeDS && q.Name == "secure.test." {
				m.Answer = nil
			}
			if q.Qtype == miekg.TypeA {
				m.Answer = without(m.Answer, isType(miekg.TypeRRSIG))
			}
		}},
		{"DNSKEY RRSIG stripped", func(q miekg.Question, m *miekg.Msg) {
			if q.Qtype == miekg.TypeDNSKEY && q.Name == "secure.test." {
				m.Answer = without(m.Answer, isType(miekg.TypeRRSIG))
			}
		}},
		{"DNSKEY replaced", func(q miekg.Question, m *miekg.Msg) {
			if q.Qtype == miekg.TypeDNSKEY && q.Name == "secure.test." {
				for _, r := range m.Answer {
					if k, ok := r.(*miekg.DNSKEY); ok {
						k.PublicKey = "AAAA" + k.PublicKey[4:]
					}
				}
			}
		}},
	}
	for i := range tests {
		// Tamper only with the answer itself, not the chain of trust.
		f, qname, qtype := tests[i].tamper, miekg.Fqdn(tests[i].qname), tests[i].qtype
		tests[i].tamper = func(q miekg.Question, m *miekg.Msg) {
			if q.Name == qname && q.Qtype == qtype {
				f(q, m)
			}
		}
	}
	for _, c := range chain {
		tests = append(tests, struct {
			name   string
			qname  string
			qtype  uint16
			tamper func(q miekg.Question, m *miekg.Msg)
		}{c.name, "www.secure.test", miekg.TypeA, c.tamper})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.SetTamper(tt.tamper)
			t.Cleanup(func() { w.SetTamper(nil) })
			r := newResolver(t, w, nil)
			ans, err := r.Lookup(t.Context(), tt.qname, tt.qtype)
			t.Logf("err=%v", err)
			if !errors.Is(err, dns.ErrBogus) || !errors.Is(err, dns.ErrTemporary) || ans.Security != dns.Bogus || len(ans.RRs) != 0 {
				t.Fatalf("Lookup(%s) under forgery = %s, %d records, %v; want Bogus", tt.qname, ans.Security, len(ans.RRs), err)
			}
		})
	}
}

// TestConcurrentLookups: simultaneous lookups of one name share one
// resolution and all get the validated answer.
func TestConcurrentLookups(t *testing.T) {
	w := dnstest.NewWorld(t)
	r := newResolver(t, w, nil)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			ans, err := r.Lookup(t.Context(), "c1.secure.test", miekg.TypeA)
			if err == nil && ans.Security != dns.Secure {
				err = errors.New(ans.Security.String())
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Lookup: %v", err)
		}
	}
	// A cold lookup costs about six queries; twenty unshared ones would
	// cost over a hundred.
	if q := w.Queries.Load(); q > 60 {
		t.Errorf("%d concurrent lookups sent %d queries", n, q)
	}
}

// TestUpstreamFailover: a silent upstream and one answering SERVFAIL are
// skipped for the next one.
func TestUpstreamFailover(t *testing.T) {
	w := dnstest.NewWorld(t)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	servfail, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &miekg.Server{PacketConn: servfail, Handler: miekg.HandlerFunc(func(rw miekg.ResponseWriter, req *miekg.Msg) {
		m := new(miekg.Msg)
		m.SetRcode(req, miekg.RcodeServerFailure)
		rw.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	r := newResolver(t, w, func(c *dns.Config) {
		c.Upstreams = []string{silent.LocalAddr().String(), servfail.LocalAddr().String(), w.Addr}
		c.Timeout = 100 * time.Millisecond
	})
	ans, err := r.Lookup(t.Context(), "www.secure.test", miekg.TypeA)
	if err != nil || ans.Security != dns.Secure {
		t.Fatalf("Lookup via failover = %v, %v", ans, err)
	}
	r = newResolver(t, w, func(c *dns.Config) {
		c.Upstreams = []string{silent.LocalAddr().String(), servfail.LocalAddr().String()}
		c.Timeout = 100 * time.Millisecond
		c.Attempts = 2
	})
	if _, err := r.Lookup(t.Context(), "www.secure.test", miekg.TypeA); !errors.Is(err, dns.ErrTemporary) {
		t.Fatalf("Lookup with no working upstream = %v, want ErrTemporary", err)
	}
}
