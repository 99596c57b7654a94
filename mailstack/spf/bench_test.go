package spf

import (
	"context"
	"net"
	"testing"

	"scop/mailstack/dns/dnstest"
)

// BenchmarkSPFCheck measures check_host() over a resolver answering from
// memory (a warm cache): an include, an mx and an a mechanism per check.
func BenchmarkSPFCheck(b *testing.B) {
	r := &dnstest.MapResolver{
		TXT: map[string][]string{
			"example.org":      {"v=spf1 include:_spf.example.org mx a:out.example.org -all"},
			"_spf.example.org": {"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"},
		},
		MX: map[string][]*net.MX{"example.org": {{Host: "mx1.example.org", Pref: 10}}},
		A: map[string][]string{
			"mx1.example.org": {"203.0.113.5"},
			"out.example.org": {"192.0.2.10"},
		},
	}
	ip := net.ParseIP("192.0.2.10")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := Check(ctx, r, ip, "mx.example.org", "user@example.org"); res.Status != Pass {
			b.Fatalf("Check = %s (%v)", res.Status, res.Err)
		}
	}
}
