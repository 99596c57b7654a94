package dns_test

import (
	"fmt"
	"testing"

	miekg "github.com/miekg/dns"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

// BenchmarkValidate measures a secure lookup through the validator over
// the loopback world: cold (new resolver: the whole chain of trust, four
// queries and their signatures), warm (chain cached, the answer not: one
// query, a signature and a wildcard proof) and cached (the answer cached).
func BenchmarkValidate(b *testing.B) {
	w := dnstest.NewWorld(b)
	cfg := dns.Config{Upstreams: []string{w.Addr}, TrustAnchors: w.Anchors}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, _ := dns.NewValidatingResolver(cfg)
			if ans, err := r.Lookup(b.Context(), "www.secure.test", miekg.TypeA); err != nil || ans.Security != dns.Secure {
				b.Fatalf("Lookup = %v, %v", ans, err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		r, _ := dns.NewValidatingResolver(cfg)
		r.Lookup(b.Context(), "www.secure.test", miekg.TypeA)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			name := fmt.Sprintf("n%d.wild.secure.test", i)
			if ans, err := r.Lookup(b.Context(), name, miekg.TypeTXT); err != nil || ans.Security != dns.Secure {
				b.Fatalf("Lookup(%s) = %v, %v", name, ans, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		r, _ := dns.NewValidatingResolver(cfg)
		r.Lookup(b.Context(), "www.secure.test", miekg.TypeA)
		b.ReportAllocs()
		for b.Loop() {
			if ans, err := r.Lookup(b.Context(), "www.secure.test", miekg.TypeA); err != nil || ans.Security != dns.Secure {
				b.Fatalf("Lookup = %v, %v", ans, err)
			}
		}
	})
}
