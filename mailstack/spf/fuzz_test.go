package spf

import (
	"context"
	"net"
	"testing"
	"time"

	"scop/mailstack/dns/dnstest"
)

// FuzzSPFRecord: any record string parses or fails with an error, and a
// parsed record formats to a string that parses to the same format.
func FuzzSPFRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 a mx/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.org ~all",
		"v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} ?all exp=exp.%{d}",
		"v=spf1 redirect=_spf.example.org",
		"v=spf1 ptr:%{d} a:%{H}.x.example foo=%{s}",
		"v=spf1 ip6:::ffff:1.2.3.4/128",
		"v=spf1 a//0 mx/0",
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com",
		"v=spf10",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		out := r.String()
		r2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its format %q fails: %v", s, out, err)
		}
		if out2 := r2.String(); out2 != out {
			t.Fatalf("format not stable: %q -> %q -> %q", s, out, out2)
		}
	})
}

// FuzzMacroExpand: expansion never panics, and a string that passes the
// syntax check expands without error.
func FuzzMacroExpand(f *testing.F) {
	for _, s := range []string{
		"%{ir}.%{v}._spf.%{d2}", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "%%%_%-", "%{S}%{L}%{O}",
		"%{d1000000000000r.-+,/_=}", "%{c} is %{r} at %{t}", "%{p}", "%", "%{", "%{d0}",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	d := &MacroData{Sender: "a-b+c@example.org", Domain: "example.org", IP: net.ParseIP("2001:db8::1"),
		HELO: "mx.example.org", Now: time.Unix(0, 0), PTR: func() string { return "mx.example.org" }}
	f.Fuzz(func(t *testing.T, s string, exp bool) {
		out, err := ExpandMacro(s, d, exp)
		if checkMacroString(s, exp) == nil && err != nil {
			t.Fatalf("ExpandMacro(%q) = %q, %v after syntax check passed", s, out, err)
		}
	})
}

// FuzzCheckHost evaluates arbitrary records, senders and addresses over
// a small zone: check_host() must return one of the seven results and
// never panic or loop, whatever the record says.
func FuzzCheckHost(f *testing.F) {
	f.Add("v=spf1 include:inc.example.org mx a ptr exists:%{ir}.x.example.org -all", "a@example.org", "192.0.2.1")
	f.Add("v=spf1 redirect=example.org", "%{l}@example.org", "2001:db8::1")
	f.Add("v=spf1 -all exp=exp.example.org", "x@example.org", "::ffff:192.0.2.9")
	f.Add("v=spf1 a:%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d} ?all", "a@example.org", "198.51.100.1")
	statuses := map[Status]bool{None: true, Neutral: true, Pass: true, Fail: true, SoftFail: true, TempError: true, PermError: true}
	f.Fuzz(func(t *testing.T, record, sender, ip string) {
		r := &dnstest.MapResolver{
			TXT: map[string][]string{
				"example.org":     {record},
				"inc.example.org": {record},
				"exp.example.org": {"%{i} %{c} %{r} %{t} is not allowed"},
			},
			A:   map[string][]string{"example.org": {"192.0.2.1"}, "mx.example.org": {"192.0.2.2"}},
			MX:  map[string][]*net.MX{"example.org": {{Host: "mx.example.org", Pref: 1}}},
			PTR: map[string][]string{"192.0.2.1": {"example.org"}},
		}
		addr := net.ParseIP(ip)
		if addr == nil {
			addr = net.IPv4(192, 0, 2, 1)
		}
		res := Config{}.CheckHost(context.Background(), r, addr, "example.org", sender, "mx.example.org")
		if !statuses[res.Status] {
			t.Fatalf("CheckHost = %q", res.Status)
		}
		// Header pieces carry data from the sender and the DNS: they
		// must never break the header (no CR, LF or other controls).
		for _, h := range []string{res.ReceivedSPF("mx.scop.test"), res.AuthResults()} {
			for i := 0; i < len(h); i++ {
				if h[i] < 0x20 || h[i] > 0x7e {
					t.Fatalf("header piece %q has octet %#x", h, h[i])
				}
			}
		}
	})
}
