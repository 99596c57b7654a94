package mime

import (
	"strings"
	"testing"
)

// TestHostileInputs parses inputs built to be slow or deep for naive
// parsers (quadratic header unfolding, nesting bombs): each parses and
// encodes without a crash; a quadratic regression shows as a test timeout.
func TestHostileInputs(t *testing.T) {
	inputs := map[string]string{
		"Continuations": "Subject: x\r\n" + strings.Repeat(" y\r\n", 200000) + "\r\nbody",
		"ManyFields":    strings.Repeat("X-A: b\r\n", 100000) + "\r\nbody",
		"ManyParts":     "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 100000),
		"DeepNesting":   strings.Repeat("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", 5000),
		"LongLine":      "Subject: " + strings.Repeat("a", 1<<20) + "\r\n\r\n" + strings.Repeat("b", 1<<20),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			p := Parse([]byte(in))
			if len(p.Encode()) == 0 {
				t.Error("Encode gave nothing")
			}
		})
	}
}
