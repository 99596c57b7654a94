package authres

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzAuthResults checks that Parse never panics and that whatever it
// accepts survives Format and Parse again unchanged.
func FuzzAuthResults(f *testing.F) {
	for _, s := range []string{
		"mx.example.org; none",
		"example.com; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net header.s=sel1",
		`"quoted \" id" 1; auth=pass (comment (nested)) reason="r" smtp.auth=a@b`,
		"mx; dkim/1=fail header.b=abc+/== policy.dmarc=reject",
		"mx (unterminated",
		"mx; spf=pass smtp.mailfrom=",
		"((((((((((((((((x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		AuthServID(s)
		StripForged([]byte("Authentication-Results: "+s+"\r\n\r\n"), "mx")
		h, err := Parse(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(h.AuthServID, "\r\n") {
			return // quoting turns CR/LF into spaces by design
		}
		for _, r := range h.Results {
			if strings.ContainsAny(r.Reason, "\r\n\"\\") {
				return
			}
			for _, p := range r.Props {
				if strings.ContainsAny(p.Value, "\r\n\"\\") {
					return
				}
			}
		}
		out := Format(h)
		h2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(Parse(%q))) = %v; formatted %q", s, err, out)
		}
		if h.Version == "1" {
			h.Version = ""
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip of %q:\n%+v\n%+v\nvia %q", s, h, h2, out)
		}
	})
}
