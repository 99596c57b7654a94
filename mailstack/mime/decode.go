package mime

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	stdmime "mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 §6),
// forgiving errors; unknown encodings leave the body as it is. The
// string is a defect, or empty.
func decodeTransfer(cte string, body []byte) ([]byte, string) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		return decodeQP(body), ""
	case "", "7bit", "8bit", "binary":
		return body, ""
	default:
		return body, "unknown transfer encoding " + cte
	}
}

// decodeBase64 ignores every byte outside the alphabet (RFC 2045 §6.8
// says to) and stops at the first padding; a dangling sixth bit group is
// dropped.
func decodeBase64(b []byte) ([]byte, string) {
	clean := make([]byte, 0, len(b))
	defect := ""
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			goto done
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			defect = "base64: invalid characters ignored"
		}
	}
done:
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
		defect = "base64: truncated"
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil && defect == "" {
		defect = "base64: " + err.Error()
	}
	return out[:n], defect
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) leniently: a "=" not
// followed by two hex digits or a line break is kept as is, and white
// space before a line break is dropped (rule 3).
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line, eol []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
			// A hard line break stands for CRLF whatever the wire had.
			eol = []byte("\r\n")
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		line = bytes.TrimRight(line, " \t")
		soft := bytes.HasSuffix(line, []byte("=")) && eol != nil
		if soft {
			line = line[:len(line)-1]
		}
		for j := 0; j < len(line); j++ {
			c := line[j]
			if c == '=' && j+2 < len(line) && isHex(line[j+1]) && isHex(line[j+2]) {
				out = append(out, unhex(line[j+1])<<4|unhex(line[j+2]))
				j += 2
				continue
			}
			out = append(out, c)
		}
		if !soft {
			out = append(out, eol...)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

var wordDecoder = &stdmime.WordDecoder{CharsetReader: charset.Reader}

// DecodeHeader decodes RFC 2047 encoded words in a header value. Values
// that fail to decode are returned as they are; raw UTF-8 (RFC 6532)
// passes through.
func DecodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// Text returns the body of a text part converted to UTF-8 from its charset
// (default us-ascii, read as UTF-8). Unknown charsets and invalid bytes
// give a best effort string and an error describing the problem.
func (p *Part) Text() (string, error) {
	_, params := p.MediaType()
	cs := strings.ToLower(strings.TrimSpace(params["charset"]))
	switch cs {
	case "", "us-ascii", "utf-8", "utf8", "ascii":
		if utf8.Valid(p.Body) {
			return string(p.Body), nil
		}
		return strings.ToValidUTF8(string(p.Body), "\uFFFD"), fmt.Errorf("invalid %s", orASCII(cs))
	}
	r, err := charset.Reader(cs, bytes.NewReader(p.Body))
	if err != nil {
		return strings.ToValidUTF8(string(p.Body), "\uFFFD"), fmt.Errorf("charset %q: %w", cs, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return strings.ToValidUTF8(string(p.Body), "\uFFFD"), fmt.Errorf("charset %q: %w", cs, err)
	}
	return string(b), nil
}

func orASCII(cs string) string {
	if cs == "" {
		return "us-ascii"
	}
	return cs
}
