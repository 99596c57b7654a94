package mime

import (
	"math/rand/v2"
	"testing"
)

// FuzzMIMEParse: Parse never panics and never fails; a message that
// parses without defects encodes to one that parses to the same message.
func FuzzMIMEParse(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(Generate(rand.New(rand.NewPCG(seed, 0))).Encode())
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nunterminated"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Transfer-Encoding: base64\r\n\r\n////\r\n--q--\r\n"))
	f.Add([]byte("From x\nSubject: =?utf-8?b?w6k=?=\n\n"))
	f.Add([]byte(richMessage))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := Parse(raw)
		p.Bodies()
		p.Attachments()
		if len(p.AllDefects()) > 0 {
			return
		}
		q := Parse(p.Encode())
		if d := Diff(p, q); d != "" {
			t.Fatalf("round trip of a clean parse differs: %s\ninput %q\nencoded %q", d, raw, p.Encode())
		}
	})
}
