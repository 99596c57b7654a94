package mime

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	stdmime "mime"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// Generate returns a random message in the spirit of the hamlet corpus:
// nested multiparts, every transfer encoding (7bit, 8bit,
// quoted-printable, base64), several charsets, folded and RFC 2047 encoded
// headers and raw UTF-8 headers (RFC 6532). The same rng state gives the
// same message. Bodies are stored decoded, as Parse returns them.
func Generate(rng *rand.Rand) *Part {
	g := &generator{rng: rng}
	return g.message(0)
}

type generator struct{ rng *rand.Rand }

var (
	asciiWords  = strings.Fields("the of mail server matrix room bridge message hello world quick brown fox jumps over lazy dog spool queue deliver accept reject policy domain key header body part")
	latin1Words = strings.Fields("café naïve über señor garçon façade déjà Øresund smörgåsbord Straße")
	euroWords   = strings.Fields("€100 prix€")
	utf8Words   = strings.Fields("日本語 Ωμέγα Привет 🎉 中文 한국어 ✓")
	charsets    = []string{"us-ascii", "utf-8", "iso-8859-1", "iso-8859-15", "windows-1252"}
)

func (g *generator) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// words returns n words drawn for charset cs (all representable in it).
func (g *generator) words(cs string, n int) string {
	pools := [][]string{asciiWords}
	switch cs {
	case "utf-8":
		pools = append(pools, latin1Words, euroWords, utf8Words)
	case "iso-8859-1":
		pools = append(pools, latin1Words)
	case "iso-8859-15", "windows-1252":
		pools = append(pools, latin1Words, euroWords)
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		p := pools[0]
		if g.rng.IntN(4) == 0 {
			p = pools[g.rng.IntN(len(pools))]
		}
		b.WriteString(g.pick(p))
	}
	return b.String()
}

func (g *generator) message(depth int) *Part {
	p := &Part{}
	h := &p.Header
	add := func(name, value string) { *h = append(*h, Field{name, value}) }
	add("From", g.address())
	to := g.address()
	for range g.rng.IntN(3) {
		to += ", " + g.address()
	}
	add("To", to)
	add("Subject", g.headerText(3+g.rng.IntN(12)))
	add("Date", time.Unix(1e9+g.rng.Int64N(1e9), 0).UTC().Format(time.RFC1123Z))
	add("Message-ID", fmt.Sprintf("<%x.%x@%s>", g.rng.Uint64(), g.rng.Uint32(), g.pick([]string{"example.org", "mail.test", "[192.0.2.7]"})))
	add("MIME-Version", "1.0")
	for range g.rng.IntN(4) {
		add(g.pick([]string{"X-Mailer", "Comments", "Keywords", "X-Long-Header", "Resent-From"}), g.headerText(2+g.rng.IntN(30)))
	}
	g.fill(p, depth)
	return p
}

// address is a mailbox with an optional display name, plain, quoted or
// RFC 2047 encoded.
func (g *generator) address() string {
	local := g.pick([]string{"alice", "bob", "carol.d", "x+tag", "info"})
	addr := fmt.Sprintf("<%s@%s>", local, g.pick([]string{"example.org", "example.com", "mail.test"}))
	switch g.rng.IntN(4) {
	case 0:
		return addr[1 : len(addr)-1]
	case 1:
		return `"` + g.words("us-ascii", 2) + `" ` + addr
	case 2:
		return stdmime.QEncoding.Encode("utf-8", g.words("utf-8", 2)) + " " + addr
	default:
		return g.words("us-ascii", 1) + " " + addr
	}
}

// headerText is unstructured text: ASCII, RFC 2047 Q or B encoded words,
// or raw UTF-8.
func (g *generator) headerText(n int) string {
	switch g.rng.IntN(4) {
	case 0:
		return stdmime.QEncoding.Encode("utf-8", g.words("utf-8", n))
	case 1:
		cs := g.pick([]string{"utf-8", "iso-8859-1"})
		w := g.words(cs, n)
		if cs == "iso-8859-1" {
			enc, _ := charmap.ISO8859_1.NewEncoder().String(w)
			return encodeWords(enc, cs)
		}
		return stdmime.BEncoding.Encode("utf-8", w)
	case 2:
		return g.words("utf-8", n)
	default:
		return g.words("us-ascii", n)
	}
}

// encodeWords B-encodes bytes already in charset cs (the std encoder only
// takes UTF-8 text for utf-8).
func encodeWords(b, cs string) string {
	var out []string
	for len(b) > 0 {
		n := min(len(b), 30)
		out = append(out, "=?"+cs+"?b?"+b64(b[:n])+"?=")
		b = b[n:]
	}
	return strings.Join(out, " ")
}

// fill gives p a body: a multipart, an embedded message or a leaf.
func (g *generator) fill(p *Part, depth int) {
	r := g.rng.IntN(10)
	switch {
	case depth < 3 && r < 4:
		sub := g.pick([]string{"mixed", "alternative", "related", "parallel"})
		boundary := fmt.Sprintf("b%d_%x", depth, g.rng.Uint64())
		p.Header = append(p.Header, Field{"Content-Type", fmt.Sprintf(`multipart/%s; boundary="%s"`, sub, boundary)})
		n := 1 + g.rng.IntN(4)
		for range n {
			c := &Part{}
			if g.rng.IntN(3) == 0 {
				c.Header = append(c.Header, Field{"Content-Description", g.headerText(2)})
			}
			g.fill(c, depth+1)
			p.Children = append(p.Children, c)
		}
		if g.rng.IntN(5) == 0 {
			p.Preamble = []byte("This is a multi-part message in MIME format.")
		}
		if g.rng.IntN(5) == 0 {
			p.Epilogue = []byte("epilogue text\r\n")
		}
	case depth < 3 && r == 4:
		p.Header = append(p.Header, Field{"Content-Type", "message/rfc822"})
		p.Children = []*Part{g.message(depth + 1)}
	case r == 5:
		name := g.pick([]string{"report.pdf", "data.bin", "photo.jpg", "über ñame.txt"})
		p.Header = append(p.Header,
			Field{"Content-Type", "application/octet-stream"},
			Field{"Content-Disposition", stdmime.FormatMediaType("attachment", map[string]string{"filename": name})},
			Field{"Content-Transfer-Encoding", "base64"})
		body := make([]byte, g.rng.IntN(600))
		for i := range body {
			body[i] = byte(g.rng.IntN(256))
		}
		p.Body = body
	default:
		g.leafText(p)
	}
}

func (g *generator) leafText(p *Part) {
	cs := g.pick(charsets)
	sub := g.pick([]string{"plain", "plain", "html"})
	var lines []string
	for range 1 + g.rng.IntN(12) {
		l := g.words(cs, 1+g.rng.IntN(20))
		if sub == "html" {
			l = "<p>" + l + "</p>"
		}
		lines = append(lines, l)
	}
	text := strings.Join(lines, "\r\n")
	if g.rng.IntN(2) == 0 {
		text += "\r\n"
	}
	body := []byte(text)
	if enc := charsetEncoding(cs); enc != nil {
		b, err := enc.NewEncoder().Bytes(body)
		if err == nil {
			body = b
		}
	}
	ascii := true
	for _, c := range body {
		ascii = ascii && c < 0x80
	}
	var cte string
	switch {
	case ascii && g.rng.IntN(3) == 0:
		cte = "7bit"
	case g.rng.IntN(3) == 0:
		cte = "8bit"
	case g.rng.IntN(2) == 0:
		cte = "quoted-printable"
	default:
		cte = "base64"
	}
	p.Header = append(p.Header,
		Field{"Content-Type", fmt.Sprintf("text/%s; charset=%s", sub, cs)},
		Field{"Content-Transfer-Encoding", cte})
	p.Body = body
}

func charsetEncoding(cs string) encoding.Encoding {
	switch cs {
	case "iso-8859-1":
		return charmap.ISO8859_1
	case "iso-8859-15":
		return charmap.ISO8859_15
	case "windows-1252":
		return charmap.Windows1252
	}
	return nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
