package dmarc

import (
	"errors"
	"testing"
)

// FuzzDMARCRecord checks that ParseRecord never panics, only returns its
// own error kinds, and that an accepted record survives String and parse.
func FuzzDMARCRecord(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject",
		"v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s;pct=20;rua=mailto:a@x.org;ruf=mailto:f@x.org;fo=1;ri=3600",
		"v=DMARC1; p=bogus; rua=mailto:r@x.org",
		"v=DMARC1",
		"v=spf1 -all",
		"v=DMARC1; p=none; junk",
		";;;=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			if !errors.Is(err, ErrNotDMARC) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseRecord(%q) error %v of unknown kind", s, err)
			}
			return
		}
		if r.Percent < 0 || r.Percent > 100 {
			t.Fatalf("ParseRecord(%q) pct %d", s, r.Percent)
		}
		r2, err := ParseRecord(r.String())
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %v after String of %q", r.String(), err, s)
		}
		if r2.String() != r.String() {
			t.Fatalf("round trip %q -> %q", r.String(), r2.String())
		}
	})
}
