package spf

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"simple", "v=spf1 -all", "v=spf1 -all", false},
		{"mechanisms", "v=spf1 +a mx:example.org/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~include:_spf.example.org ?exists:%{i}.x.example.org ptr -all",
			"v=spf1 a mx:example.org/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~include:_spf.example.org ?exists:%{i}.x.example.org ptr -all", false},
		{"modifiers", "v=spf1 redirect=_spf.example.org exp=exp.example.org foo=bar", "v=spf1 redirect=_spf.example.org exp=exp.example.org foo=bar", false},
		{"case", "V=SPF1 A/24 -ALL", "v=spf1 a/24 -all", false},
		{"ip4 default prefix", "v=spf1 ip4:192.0.2.1", "v=spf1 ip4:192.0.2.1/32", false},
		{"not spf", "v=spf10 -all", "", true},
		{"bad mechanism", "v=spf1 foo -all", "", true},
		{"bad cidr", "v=spf1 a/33", "", true},
		{"leading zero cidr", "v=spf1 a/024", "", true},
		{"duplicate redirect", "v=spf1 redirect=a.example redirect=b.example", "", true},
		{"bad macro", "v=spf1 exists:%{z}.example.org", "", true},
		{"numeric toplabel", "v=spf1 a:192.0.2.1", "", true},
		{"control char", "v=spf1 a\r-all", "", true},
		{"non-ascii", "v=spf1 \u00e9 -all", "", true},
		{"ip4 given v6", "v=spf1 ip4:2001:db8::1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.err {
				if err == nil || !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrSyntax", tt.in, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMacroRFCExamples checks the examples of RFC 7208 §7.4.
func TestMacroRFCExamples(t *testing.T) {
	d4 := &MacroData{Sender: "strong-bad@email.example.com", Domain: "email.example.com", IP: net.ParseIP("192.0.2.3").To4(), HELO: "mx.example.org"}
	d6 := &MacroData{Sender: "strong-bad@email.example.com", Domain: "email.example.com", IP: net.ParseIP("2001:db8::cb01")}
	tests := []struct {
		in, want string
		d        *MacroData
	}{
		{"%{s}", "strong-bad@email.example.com", d4},
		{"%{o}", "email.example.com", d4},
		{"%{d}", "email.example.com", d4},
		{"%{d4}", "email.example.com", d4},
		{"%{d3}", "email.example.com", d4},
		{"%{d2}", "example.com", d4},
		{"%{d1}", "com", d4},
		{"%{dr}", "com.example.email", d4},
		{"%{d2r}", "example.email", d4},
		{"%{l}", "strong-bad", d4},
		{"%{l-}", "strong.bad", d4},
		{"%{lr}", "strong-bad", d4},
		{"%{lr-}", "bad.strong", d4},
		{"%{l1r-}", "strong", d4},
		{"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", d4},
		{"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", d4},
		{"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", d4},
		{"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", d4},
		{"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", d4},
		{"%{ir}.%{v}._spf.%{d2}", "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com", d6},
		{"%%%_%-", "% %20", d4},
		{"%{L}", "strong-bad", d4},
		{"%{S}", "strong-bad%40email.example.com", d4},
	}
	for _, tt := range tests {
		got, err := ExpandMacro(tt.in, tt.d, false)
		if err != nil || got != tt.want {
			t.Errorf("ExpandMacro(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"%", "%{", "%{x}", "%{d0}", "%{c}", "%a", "a b"} {
		if got, err := ExpandMacro(bad, d4, false); err == nil {
			t.Errorf("ExpandMacro(%q) = %q, want error", bad, got)
		}
	}
}

func TestCheckSecurityAndHeaders(t *testing.T) {
	r := &dnstest.MapResolver{
		TXT: map[string][]string{
			"secure.example":   {"v=spf1 ip4:192.0.2.0/24 -all"},
			"insecure.example": {"v=spf1 ip4:192.0.2.0/24 -all"},
			"bogus.example":    {"v=spf1 +all"},
			"loop.example":     {"v=spf1 include:loop.example -all"},
		},
		Security: map[string]dns.Security{"secure.example": dns.Secure, "bogus.example": dns.Bogus},
	}
	tests := []struct {
		name, from string
		ip         string
		want       Status
		sec        dns.Security
		ar         string
	}{
		{"secure pass", "a@secure.example", "192.0.2.7", Pass, dns.Secure, "spf=pass smtp.mailfrom=secure.example"},
		{"insecure fail", "a@insecure.example", "198.51.100.1", Fail, dns.Insecure, "spf=fail smtp.mailfrom=insecure.example"},
		{"bogus is temperror", "a@bogus.example", "192.0.2.7", TempError, dns.Bogus, "spf=temperror smtp.mailfrom=bogus.example"},
		{"include loop hits limit", "a@loop.example", "192.0.2.7", PermError, dns.Insecure, "spf=permerror smtp.mailfrom=loop.example"},
		{"no record", "a@none.example", "192.0.2.7", None, dns.Insecure, "spf=none smtp.mailfrom=none.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(context.Background(), r, net.ParseIP(tt.ip), "mx.example", tt.from)
			if res.Status != tt.want || res.Security != tt.sec {
				t.Fatalf("Check(%s) = %s/%s (%v), want %s/%s", tt.from, res.Status, res.Security, res.Err, tt.want, tt.sec)
			}
			if got := res.AuthResults(); got != tt.ar {
				t.Errorf("AuthResults() = %q, want %q", got, tt.ar)
			}
			h := res.ReceivedSPF("mx.scop.example")
			if !strings.HasPrefix(h, string(tt.want)+" (mx.scop.example: ") || !strings.Contains(h, "identity=mailfrom") {
				t.Errorf("ReceivedSPF() = %q", h)
			}
		})
	}
	// A UTF-8 domain is looked up as its A-label.
	u := &dnstest.MapResolver{TXT: map[string][]string{"xn--bcher-kva.example": {"v=spf1 +all"}}}
	if res := Check(context.Background(), u, net.ParseIP("192.0.2.1"), "h.example", "jörg@bücher.example"); res.Status != Pass || res.Domain != "xn--bcher-kva.example" {
		t.Errorf("Check(UTF-8 domain) = %s for %q (%v), want pass for the A-label", res.Status, res.Domain, res.Err)
	}
	// The HELO identity is checked when MAIL FROM is empty.
	res := Check(context.Background(), r, net.ParseIP("192.0.2.9"), "secure.example", "")
	if res.Status != Pass || res.Identity != "helo" || res.AuthResults() != "spf=pass smtp.helo=secure.example" {
		t.Errorf("HELO check = %+v (%s)", res, res.AuthResults())
	}
}

// TestTimeout: a resolver that never answers gives temperror once the
// check's deadline passes, not a hang.
func TestTimeout(t *testing.T) {
	cfg := Config{Timeout: 50 * time.Millisecond}
	res := cfg.Check(context.Background(), &blockingResolver{}, net.ParseIP("192.0.2.1"), "h.example", "a@b.example")
	if res.Status != TempError {
		t.Fatalf("Check over blocking resolver = %s (%v), want temperror", res.Status, res.Err)
	}
}

type blockingResolver struct{ dnstest.MapResolver }

func (*blockingResolver) LookupTXT(ctx context.Context, name string) ([]string, dns.Security, error) {
	<-ctx.Done()
	return nil, dns.Insecure, errors.Join(dns.ErrTemporary, ctx.Err())
}
