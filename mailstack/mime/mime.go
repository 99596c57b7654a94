// Package mime parses Internet messages (RFC 5322) and their MIME
// structure (RFC 2045-2047, 2231) tolerantly: real mail breaks the rules
// (multiparts with no closing boundary, bad base64, duplicate parameters,
// missing blank lines), and a receiver must still see every part. Parse
// never fails; what it had to forgive is listed in Part.Defects.
//
// Encode writes a Part back out, so parse → encode → parse is stable; the
// package also generates random messages (Generate) for that property.
package mime

import (
	"bytes"
	stdmime "mime"
	"strings"
)

// MaxDepth bounds multipart and message/rfc822 nesting; deeper entities
// are kept as opaque leaves (a defect), so hostile nesting costs little.
const MaxDepth = 32

// Field is one header field: its name as written and its unfolded raw
// value (encoded words not decoded, surrounding white space trimmed).
type Field struct {
	Name  string
	Value string
}

// Header is a header section in order.
type Header []Field

// Get returns the value of the first field named name (case-insensitive).
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Part is one MIME entity: a whole message or a body part.
type Part struct {
	Header Header
	// Body is the content with the transfer encoding undone, for leaves.
	Body []byte
	// Children are the parts of a multipart, or the one message embedded
	// in a message/rfc822 part.
	Children []*Part
	// Preamble and Epilogue surround a multipart's parts (RFC 2046 §5.1.1).
	Preamble, Epilogue []byte
	// Defects lists the rule violations tolerated while parsing this part.
	Defects []string
}

// MediaType returns the lower-case media type and the parameters of the
// Content-Type field; the default is text/plain (RFC 2045 §5.2) or, inside
// a multipart/digest, message/rfc822 (RFC 2046 §5.1.5).
func (p *Part) MediaType() (string, map[string]string) {
	mt, params, _ := parseContentType(p.Header.Get("Content-Type"))
	return mt, params
}

// IsMultipart reports whether p is a multipart entity.
func (p *Part) IsMultipart() bool {
	mt, _ := p.MediaType()
	return strings.HasPrefix(mt, "multipart/")
}

// Walk calls f for p and every descendant, depth first, with its depth.
func (p *Part) Walk(f func(part *Part, depth int)) {
	var walk func(q *Part, d int)
	walk = func(q *Part, d int) {
		f(q, d)
		for _, c := range q.Children {
			walk(c, d+1)
		}
	}
	walk(p, 0)
}

// AllDefects returns the defects of p and its descendants.
func (p *Part) AllDefects() []string {
	var out []string
	p.Walk(func(q *Part, _ int) { out = append(out, q.Defects...) })
	return out
}

// Parse parses a message. It never fails: broken input gives a best
// effort tree and Defects. A leading mbox "From " line is skipped.
func Parse(raw []byte) *Part {
	return parsePart(raw, 0, "text/plain")
}

func parsePart(raw []byte, depth int, defaultType string) *Part {
	p := &Part{}
	var body []byte
	p.Header, body, p.Defects = parseHeader(raw)
	ctRaw := p.Header.Get("Content-Type")
	mt, params, err := parseContentType(ctRaw)
	if ctRaw == "" {
		mt = defaultType
	} else if err != nil {
		p.Defects = append(p.Defects, "content-type: "+err.Error())
	}
	switch {
	case depth >= MaxDepth && (strings.HasPrefix(mt, "multipart/") || mt == "message/rfc822"):
		p.Defects = append(p.Defects, "nesting too deep")
		p.Body = body
	case strings.HasPrefix(mt, "multipart/"):
		b := params["boundary"]
		if b == "" {
			p.Defects = append(p.Defects, "multipart without boundary")
			p.Body = body
			return p
		}
		childType := "text/plain"
		if mt == "multipart/digest" {
			childType = "message/rfc822"
		}
		pre, parts, epi, closed := splitMultipart(body, b)
		if len(parts) == 0 {
			p.Defects = append(p.Defects, "multipart without parts")
			p.Body = body
			return p
		}
		if !closed {
			p.Defects = append(p.Defects, "multipart without closing boundary")
		}
		p.Preamble, p.Epilogue = pre, epi
		for _, c := range parts {
			p.Children = append(p.Children, parsePart(c, depth+1, childType))
		}
	case mt == "message/rfc822" && isIdentityEncoding(p.Header.Get("Content-Transfer-Encoding")):
		p.Children = []*Part{parsePart(body, depth+1, "text/plain")}
	default:
		var d string
		p.Body, d = decodeTransfer(p.Header.Get("Content-Transfer-Encoding"), body)
		if d != "" {
			p.Defects = append(p.Defects, d)
		}
	}
	return p
}

func isIdentityEncoding(cte string) bool {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// parseHeader splits raw into fields and the body after the blank line.
// A line that is neither a field nor a continuation ends the header (the
// blank line is missing); it starts the body.
func parseHeader(raw []byte) (Header, []byte, []string) {
	var h Header
	var defects []string
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	// cur collects the current field's value; appending to a string per
	// continuation line would be quadratic on hostile headers.
	var cur []byte
	flush := func() {
		if len(h) > 0 {
			h[len(h)-1].Value = strings.TrimSpace(string(cur))
		}
		cur = cur[:0]
	}
	pos := 0
	for pos < len(raw) {
		end := bytes.IndexByte(raw[pos:], '\n')
		next := len(raw)
		if end >= 0 {
			next = pos + end + 1
		}
		line := trimEOL(raw[pos:next])
		if len(line) == 0 {
			flush()
			return h, raw[next:], defects
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 {
			cur = append(cur, line...)
			pos = next
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			if len(h) == 0 && (line[0] == ' ' || line[0] == '\t') {
				defects = append(defects, "header starts with a continuation line")
				pos = next
				continue
			}
			flush()
			defects = append(defects, "header not ended by a blank line")
			return h, raw[pos:], defects
		}
		flush()
		h = append(h, Field{Name: string(line[:colon])})
		cur = append(cur, line[colon+1:]...)
		pos = next
	}
	flush()
	if len(raw) > 0 {
		defects = append(defects, "no body")
	}
	return h, nil, defects
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// validFieldName: printable ASCII except colon and space (RFC 5322 §2.2).
func validFieldName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// splitMultipart finds the parts of a multipart body (RFC 2046 §5.1.1).
// The line break before a delimiter belongs to the delimiter. With no
// closing delimiter the last part runs to the end (closed is false).
func splitMultipart(body []byte, boundary string) (pre []byte, parts [][]byte, epi []byte, closed bool) {
	delim := []byte("--" + boundary)
	open := false
	start := 0
	pos := 0
	for pos < len(body) {
		end := bytes.IndexByte(body[pos:], '\n')
		next := len(body)
		if end >= 0 {
			next = pos + end + 1
		}
		line := trimEOL(body[pos:next])
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			isClose := bytes.HasPrefix(rest, []byte("--"))
			if isClose {
				rest = rest[2:]
			}
			if len(bytes.Trim(rest, " \t")) == 0 {
				cut := pos
				if cut > 0 && body[cut-1] == '\n' {
					cut--
					if cut > 0 && body[cut-1] == '\r' {
						cut--
					}
				}
				if open {
					parts = append(parts, body[start:max(cut, start)])
				} else {
					pre = body[:cut]
				}
				if isClose {
					return pre, nonNil(parts), body[next:], true
				}
				open = true
				start = next
			}
		}
		pos = next
	}
	if open {
		parts = append(parts, body[start:])
	}
	return pre, parts, nil, false
}

func nonNil(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

// parseContentType parses a Content-Type value; when the standard parser
// refuses it (duplicate or malformed parameters are common), parameters
// are salvaged one by one, the first of each name winning.
func parseContentType(v string) (string, map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}, nil
	}
	mt, params, err := stdmime.ParseMediaType(v)
	if err == nil {
		return strings.ToLower(mt), params, nil
	}
	params = map[string]string{}
	items := strings.Split(v, ";")
	mt = strings.ToLower(strings.TrimSpace(items[0]))
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	for _, it := range items[1:] {
		k, val, ok := strings.Cut(it, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			if j := strings.IndexByte(val[1:], '"'); j >= 0 {
				val = val[1 : j+1]
			} else {
				val = val[1:]
			}
		}
		if _, dup := params[k]; !dup && k != "" {
			params[k] = val
		}
	}
	return mt, params, err
}
