package check

import (
	"bytes"
	"testing"
)

// FuzzHeaderFields checks the header splitter on arbitrary input: the
// fields join back to the header exactly, and header plus body never
// exceed the input.
func FuzzHeaderFields(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx; spf=pass\r\nSubject: x\r\n"))
	f.Add([]byte(" leading continuation\r\nA: b\r\n\tc\r\n"))
	f.Add([]byte("Authentication-Results: (c\\) mx) mx;\n none\nno colon line\n"))
	f.Add([]byte("A:\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hdr, body := SplitMessage(raw)
		if len(hdr)+len(body) > len(raw) {
			t.Fatalf("SplitMessage(%q) grew the input", raw)
		}
		var joined []byte
		for _, fl := range Fields(hdr) {
			joined = append(joined, fl.Raw...)
		}
		if !bytes.Equal(joined, hdr) {
			t.Fatalf("Fields(%q) does not join back: %q", hdr, joined)
		}
	})
}
