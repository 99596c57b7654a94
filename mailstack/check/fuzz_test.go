package check

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzHeaderFields checks the header splitter on arbitrary input: fields
// join back to the input, and stripping our Authentication-Results
// leaves none that a re-parse would still attribute to us.
func FuzzHeaderFields(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx; spf=pass\r\nSubject: x\r\n"))
	f.Add([]byte(" leading continuation\r\nA: b\r\n\tc\r\n"))
	f.Add([]byte("Authentication-Results: (c\\) mx) mx;\n none\nno colon line\n"))
	f.Add([]byte("A:\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hdr, _ := SplitMessage(raw)
		var joined []byte
		for _, fl := range Fields(hdr) {
			joined = append(joined, fl.Raw...)
		}
		if !bytes.Equal(joined, hdr) {
			t.Fatalf("Fields(%q) does not join back: %q", hdr, joined)
		}
		out := StripAuthResults(hdr, "mx")
		for _, fl := range Fields(out) {
			if strings.EqualFold(fl.Name, "Authentication-Results") && strings.EqualFold(AuthServID(fl.Value()), "mx") {
				t.Fatalf("forged field survived: %q", fl.Raw)
			}
		}
	})
}
