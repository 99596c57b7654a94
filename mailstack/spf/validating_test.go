package spf

import (
	"context"
	"net"
	"testing"
	"time"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

func newValidating(tb testing.TB, w *dnstest.World) *dns.ValidatingResolver {
	tb.Helper()
	r, err := dns.NewValidatingResolver(dns.Config{Upstreams: []string{w.Addr}, TrustAnchors: w.Anchors,
		Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestCheckOverValidatingResolver runs SPF over the real resolver and
// the signed loopback world: DNSSEC status reaches the result, and bogus
// or unanswered DNS gives temperror, never a verdict from forged data.
func TestCheckOverValidatingResolver(t *testing.T) {
	w := dnstest.NewWorld(t, `badsig.bogus.test. TXT "v=spf1 +all"`)
	r := newValidating(t, w)
	tests := []struct {
		name, from, ip string
		want           Status
		sec            dns.Security
	}{
		{"secure pass", "a@secure.test", "192.0.2.5", Pass, dns.Secure},
		{"secure fail", "a@secure.test", "198.51.100.5", Fail, dns.Secure},
		{"insecure zone", "a@insecure.test", "192.0.2.5", Fail, dns.Insecure},
		{"secure NODATA is none", "a@www.secure.test", "192.0.2.5", None, dns.Secure},
		{"bogus zone is temperror", "a@www.wrongds.test", "192.0.2.5", TempError, dns.Bogus},
		{"time-out is temperror", "a@www.timeout.test", "192.0.2.5", TempError, dns.Insecure},
		{"CNAME loop is temperror", "a@loop1.secure.test", "192.0.2.5", TempError, dns.Insecure},
		{"bad signature is temperror", "a@badsig.bogus.test", "192.0.2.5", TempError, dns.Bogus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(t.Context(), r, net.ParseIP(tt.ip), "mx.example", tt.from)
			if res.Status != tt.want || res.Security != tt.sec {
				t.Errorf("Check(%s, %s) = %s/%s (%v), want %s/%s", tt.ip, tt.from, res.Status, res.Security, res.Err, tt.want, tt.sec)
			}
		})
	}
}

// BenchmarkSPFCheckValidating measures a check over the validating
// resolver with its cache warm.
func BenchmarkSPFCheckValidating(b *testing.B) {
	w := dnstest.NewWorld(b)
	r := newValidating(b, w)
	ip := net.ParseIP("192.0.2.5")
	ctx := context.Background()
	Check(ctx, r, ip, "mx.example", "a@secure.test")
	b.ReportAllocs()
	for b.Loop() {
		if res := Check(ctx, r, ip, "mx.example", "a@secure.test"); res.Status != Pass {
			b.Fatalf("Check = %s (%v)", res.Status, res.Err)
		}
	}
}
