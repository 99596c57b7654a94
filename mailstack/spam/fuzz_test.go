package spam

import (
	"slices"
	"testing"
)

// FuzzTokenize feeds arbitrary bytes as a message: Tokenize must not panic
// and must return sorted distinct features.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nhello world\r\n",
		"From x Mon Aug  5 10:00:00 2002\nSubject: =?utf-8?b?w6k=?=\n\nbody",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: text/html\r\n\r\n<a href=http://x.y/z>k</a>\r\n--a",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ntext\r\n--a--",
		"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-weird\r\n\r\n\xff\xfe",
		"Content-Type: application/octet-stream; name=\"a.pdf.exe\"\r\n\r\nMZ",
		"<html><script>x</script><!-- c --><img src='http://1.2.3.4:8/a'>",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		feats, _ := Tokenize(b)
		if !slices.IsSorted(feats) || len(slices.Compact(slices.Clone(feats))) != len(feats) {
			t.Fatal("features not sorted and distinct")
		}
	})
}
