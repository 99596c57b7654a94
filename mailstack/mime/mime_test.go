package mime

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func roundTrip(t testing.TB, seed uint64) {
	m := Generate(rand.New(rand.NewPCG(seed, 0)))
	raw := m.Encode()
	p := Parse(raw)
	if d := Diff(m, p); d != "" {
		t.Fatalf("seed %d: parse(encode(m)) differs: %s\n%s", seed, d, raw)
	}
	if ds := p.AllDefects(); len(ds) > 0 {
		t.Fatalf("seed %d: defects in generated message: %v\n%s", seed, ds, raw)
	}
	// Texts decode from their charsets.
	p.Walk(func(q *Part, _ int) {
		if mt, _ := q.MediaType(); strings.HasPrefix(mt, "text/") && q.Children == nil {
			if _, err := q.Text(); err != nil {
				t.Fatalf("seed %d: Text(): %v", seed, err)
			}
		}
	})
	// Encoding the parsed message is stable.
	if d := Diff(p, Parse(p.Encode())); d != "" {
		t.Fatalf("seed %d: second round trip differs: %s", seed, d)
	}
}

// TestRoundTrip checks parse(encode(m)) ≈ m over generated messages:
// 1,000 by default, SCOP_MIME_ROUNDS to run more (100,000 recorded in
// BENCHMARKS.md).
func TestRoundTrip(t *testing.T) {
	n := 1000
	if s := os.Getenv("SCOP_MIME_ROUNDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for seed := range uint64(n) {
		roundTrip(t, seed)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		roundTrip(b, uint64(i))
	}
}

func TestTolerant(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		children int
		body     string // body of the last leaf
		defect   string
	}{
		{"Unterminated", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n", 2, "two\r\n", "closing boundary"},
		{"DuplicateParams", "Content-Type: multipart/mixed; boundary=\"x\"; boundary=\"y\"\r\n\r\n--x\r\n\r\nA\r\n--x--\r\n", 1, "A", "content-type"},
		{"BadBase64", "Content-Transfer-Encoding: base64\r\n\r\naGVs!!bG8=\r\n", 0, "hello", "invalid characters"},
		{"TruncatedBase64", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8h\r\nx", 0, "hello!", "truncated"},
		{"BadQP", "Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db =ZZ c=\r\nd\r\n", 0, "a=b =ZZ cd\r\n", ""},
		{"QPBareLF", "Content-Transfer-Encoding: quoted-printable\r\n\r\na\nb\n", 0, "a\r\nb\r\n", ""},
		{"NoBlankLine", "Subject: x\r\nthis is body\r\n", 0, "this is body\r\n", "blank line"},
		{"MboxFrom", "From alice@example.org Mon Jan 1 00:00:00 2024\nSubject: x\n\nbody\n", 0, "body\n", ""},
		{"NoBoundaryParam", "Content-Type: multipart/mixed\r\n\r\nstuff", 0, "stuff", "without boundary"},
		{"NoParts", "Content-Type: multipart/mixed; boundary=q\r\n\r\nno delimiter here\r\n", 0, "no delimiter here\r\n", "without parts"},
		{"DigestDefault", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\nSubject: inner\r\n\r\nhi\r\n--d--\r\n", 1, "", ""},
		{"UnknownCTE", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644\r\n", 0, "begin 644\r\n", "unknown transfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse([]byte(tt.raw))
			if len(p.Children) != tt.children {
				t.Fatalf("Parse: %d children, want %d", len(p.Children), tt.children)
			}
			leaf := p
			for len(leaf.Children) > 0 {
				leaf = leaf.Children[len(leaf.Children)-1]
			}
			if tt.body != "" && string(leaf.Body) != tt.body {
				t.Errorf("body = %q, want %q", leaf.Body, tt.body)
			}
			ds := strings.Join(p.AllDefects(), "; ")
			if tt.defect != "" && !strings.Contains(ds, tt.defect) {
				t.Errorf("defects = %q, want one with %q", ds, tt.defect)
			}
		})
	}
}

func TestDepthBomb(t *testing.T) {
	var b strings.Builder
	for i := range 200 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\r\n\r\n--b" + strconv.Itoa(i) + "\r\n")
	}
	p := Parse([]byte(b.String()))
	depth := 0
	p.Walk(func(_ *Part, d int) { depth = max(depth, d) })
	if depth > MaxDepth {
		t.Errorf("depth %d > MaxDepth", depth)
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"=?iso-8859-1?b?Y2Fm6Q==?=", "café"},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"plain ünïcode", "plain ünïcode"},
		{"=?bogus?q?x?=", "=?bogus?q?x?="},
	}
	for _, tt := range tests {
		if got := DecodeHeader(tt.in); got != tt.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
