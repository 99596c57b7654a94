package mime

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Encode writes p as an RFC 5322 message with CRLF line ends: header
// fields folded at white space to about 78 characters, leaf bodies
// encoded per their Content-Transfer-Encoding, multiparts with their
// boundary (a fresh one when the header has none).
func (p *Part) Encode() []byte {
	var b bytes.Buffer
	p.encode(&b)
	return b.Bytes()
}

func (p *Part) encode(b *bytes.Buffer) {
	h := p.Header
	boundary := ""
	if p.Children != nil && p.IsMultipart() {
		_, params := p.MediaType()
		boundary = params["boundary"]
		if boundary == "" {
			boundary = newBoundary()
			h = withBoundary(h, boundary)
		}
	}
	for _, f := range h {
		writeField(b, f)
	}
	b.WriteString("\r\n")
	switch {
	case boundary != "":
		b.Write(p.Preamble)
		for i, c := range p.Children {
			if i > 0 || len(p.Preamble) > 0 {
				b.WriteString("\r\n")
			}
			b.WriteString("--" + boundary + "\r\n")
			c.encode(b)
		}
		b.WriteString("\r\n--" + boundary + "--\r\n")
		b.Write(p.Epilogue)
	case len(p.Children) == 1:
		p.Children[0].encode(b)
	default:
		encodeTransfer(b, p.Header.Get("Content-Transfer-Encoding"), p.Body)
	}
}

func withBoundary(h Header, boundary string) Header {
	out := make(Header, 0, len(h)+1)
	done := false
	for _, f := range h {
		if !done && strings.EqualFold(f.Name, "Content-Type") {
			f.Value = strings.TrimRight(strings.TrimSpace(f.Value), ";") + `; boundary="` + boundary + `"`
			done = true
		}
		out = append(out, f)
	}
	return out
}

func newBoundary() string {
	var r [15]byte
	rand.Read(r[:])
	return "=_scop_" + hex.EncodeToString(r[:])
}

// writeField folds at spaces so lines stay near 78 characters (RFC 5322
// §2.2.3); unfolding (deleting CRLF) gives the value back exactly.
func writeField(b *bytes.Buffer, f Field) {
	line := f.Name + ": " + f.Value
	for len(line) > 78 {
		cut := strings.LastIndexAny(line[:78], " \t")
		if cut <= len(f.Name)+1 {
			cut = strings.IndexAny(line[78:], " \t")
			if cut < 0 {
				break
			}
			cut += 78
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n")
		line = line[cut:]
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}

func encodeTransfer(b *bytes.Buffer, cte string, body []byte) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		enc := base64.StdEncoding.EncodeToString(body)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		if enc != "" {
			b.WriteString(enc)
			b.WriteString("\r\n")
		}
	case "quoted-printable":
		encodeQP(b, body)
	default:
		b.Write(body)
	}
}

// encodeQP writes quoted-printable (RFC 2045 §6.7) that decodes back to
// exactly body: CRLF is a hard break, a bare CR or LF is escaped, white
// space before a line end is escaped, lines are soft-broken before 76.
func encodeQP(b *bytes.Buffer, body []byte) {
	const hexd = "0123456789ABCDEF"
	col := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			b.WriteString("\r\n")
			col = 0
			i++
			continue
		}
		atEnd := i+1 == len(body) || body[i+1] == '\r' && i+2 < len(body) && body[i+2] == '\n'
		literal := c >= 33 && c <= 126 && c != '=' || (c == ' ' || c == '\t') && !atEnd
		n := 3
		if literal {
			n = 1
		}
		if col+n > 75 {
			b.WriteString("=\r\n")
			col = 0
		}
		if literal {
			b.WriteByte(c)
		} else {
			b.Write([]byte{'=', hexd[c>>4], hexd[c&15]})
		}
		col += n
	}
}
