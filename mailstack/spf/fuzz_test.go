package spf

import (
	"net"
	"testing"
	"time"
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
