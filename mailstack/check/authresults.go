package check

import (
	"bytes"
	"strings"
)

// AuthResult is one method's result in an Authentication-Results header
// (RFC 8601 §2.2): "spf=pass smtp.mailfrom=example.org".
type AuthResult struct {
	Method string // spf, dkim, dmarc, iprev...
	Result string // pass, fail, softfail, neutral, none, temperror, permerror, policy...
	Reason string // optional free text
	Props  []Prop
}

// Prop is a ptype.property=value item (RFC 8601 §2.3), such as
// smtp.mailfrom, header.from, header.d.
type Prop struct {
	Type, Name, Value string
}

// FormatAuthResults returns the value of an Authentication-Results field
// for authservID, folded one result per line; with no results it is
// "authservID; none" (RFC 8601 §2.2).
func FormatAuthResults(authservID string, rs []AuthResult) string {
	var b strings.Builder
	b.WriteString(authservID)
	b.WriteByte(';')
	if len(rs) == 0 {
		b.WriteString(" none")
		return b.String()
	}
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString("\r\n\t")
		b.WriteString(r.Method)
		b.WriteByte('=')
		b.WriteString(r.Result)
		if r.Reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quoteValue(r.Reason))
		}
		for _, p := range r.Props {
			b.WriteByte(' ')
			b.WriteString(p.Type)
			b.WriteByte('.')
			b.WriteString(p.Name)
			b.WriteByte('=')
			b.WriteString(quoteValue(p.Value))
		}
	}
	return b.String()
}

// quoteValue returns v as a token when it is one, else as a quoted-string
// (RFC 2045 token, RFC 5322 quoted-string); "@" is allowed bare for
// addresses (RFC 8601 pvalue).
func quoteValue(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>,;:\"/[]?=`, r)
	}) < 0 {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\r' || r == '\n':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// SplitMessage splits raw into its header section (with the line break
// ending the last field) and the body (after the empty line). A message
// without an empty line is all header.
func SplitMessage(raw []byte) (header, body []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:]
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return nil, raw[1:]
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\n' {
			continue
		}
		rest := raw[i+1:]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return raw[:i+1], rest[2:]
		}
		if bytes.HasPrefix(rest, []byte("\n")) {
			return raw[:i+1], rest[1:]
		}
	}
	return raw, nil
}

// Field is one raw header field: its name and its whole raw text, folded
// lines and line break included.
type Field struct {
	Name string
	Raw  []byte
}

// Value returns the unfolded field value without the name and colon.
func (f Field) Value() string {
	i := bytes.IndexByte(f.Raw, ':')
	if i < 0 {
		return ""
	}
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(f.Raw[i+1:]))
	return strings.TrimSpace(v)
}

// Fields splits a header section into fields; a leading continuation line
// or a line with no colon becomes a field with an empty name, so joining
// every Raw gives back the input exactly.
func Fields(header []byte) []Field {
	var fs []Field
	for len(header) > 0 {
		end := 0
		for {
			i := bytes.IndexByte(header[end:], '\n')
			if i < 0 {
				end = len(header)
				break
			}
			end += i + 1
			if end >= len(header) || (header[end] != ' ' && header[end] != '\t') {
				break
			}
		}
		raw := header[:end]
		name := ""
		if c := bytes.IndexByte(raw, ':'); c > 0 && !bytes.ContainsAny(raw[:c], " \t\r\n") {
			name = string(raw[:c])
		}
		fs = append(fs, Field{Name: name, Raw: raw})
		header = header[end:]
	}
	return fs
}
