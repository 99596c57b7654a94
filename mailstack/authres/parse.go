// Package authres writes and reads the Authentication-Results header field
// (RFC 8601). The receiver adds one field per accepted message with its
// SPF, DKIM and DMARC results, and first removes every field that claims
// to come from our authserv-id, since only we may write those (§5).
package authres

import (
	"errors"
	"fmt"
	"strings"
)

// Header is a parsed Authentication-Results field value.
type Header struct {
	AuthServID string
	Version    string // authres-version, "" when absent (means 1)
	// Results is empty for "none".
	Results []Result
}

// Result is one resinfo: method=result with its reason and properties.
type Result struct {
	Method        string // lower case, e.g. "dkim"
	MethodVersion string
	Value         string // lower case, e.g. "pass"
	Reason        string
	Props         []Prop
}

// Prop is a propspec such as header.d=example.org.
type Prop struct {
	Type  string // "smtp", "header", "body", "policy" or an extension
	Name  string
	Value string
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("authres: syntax error")

// maxNesting bounds nested comments so hostile input cannot recurse deeply.
const maxNesting = 64

type parser struct {
	s   string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at %d: %s", ErrSyntax, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

// skipCFWS skips folding white space and (nested) comments.
func (p *parser) skipCFWS() error {
	for !p.eof() {
		switch c := p.s[p.pos]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.pos++
		case c == '(':
			if err := p.skipComment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) skipComment() error {
	depth := 0
	for !p.eof() {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '\\':
			p.pos++
		case '(':
			depth++
			if depth > maxNesting {
				return p.errorf("comments nested too deep")
			}
		case ')':
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
	return p.errorf("unterminated comment")
}

// isTokenChar reports RFC 2045 token characters.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return c >= 0x80 // tolerate UTF-8 (RFC 6532)
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

func isKeywordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (p *parser) keyword() (string, error) {
	start := p.pos
	for !p.eof() && isKeywordChar(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("keyword expected")
	}
	return strings.ToLower(p.s[start:p.pos]), nil
}

// value reads a token or a quoted-string.
func (p *parser) value() (string, error) {
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.pos
	for !p.eof() && isTokenChar(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("value expected")
	}
	return p.s[start:p.pos], nil
}

func (p *parser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.eof() {
				return "", p.errorf("unterminated quoted-string")
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf("unterminated quoted-string")
}

// pvalue reads a property value: a value, or an address or domain name,
// which may contain '@', '.' and '/' outside quotes.
func (p *parser) pvalue() (string, error) {
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.pos
	for !p.eof() {
		c := p.s[p.pos]
		if c == ';' || c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' {
			break
		}
		p.pos++
	}
	if p.pos == start {
		return "", nil // RFC 8601 allows empty values in practice (e.g. smtp.mailfrom=)
	}
	return p.s[start:p.pos], nil
}

// AuthServID returns only the authserv-id of a field value. It is what the
// receiver needs to drop forged fields, and fails on fewer inputs than Parse.
func AuthServID(v string) (string, error) {
	p := &parser{s: v}
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	id, err := p.value()
	if err != nil {
		return "", err
	}
	return id, nil
}

// Parse parses an Authentication-Results field value (without the name).
func Parse(v string) (*Header, error) {
	p := &parser{s: v}
	h := &Header{}
	var err error
	if err = p.skipCFWS(); err != nil {
		return nil, err
	}
	if h.AuthServID, err = p.value(); err != nil {
		return nil, err
	}
	if err = p.skipCFWS(); err != nil {
		return nil, err
	}
	if c := p.peek(); c >= '0' && c <= '9' {
		start := p.pos
		for !p.eof() && p.peek() >= '0' && p.peek() <= '9' {
			p.pos++
		}
		h.Version = p.s[start:p.pos]
		if err = p.skipCFWS(); err != nil {
			return nil, err
		}
	}
	if p.eof() {
		return nil, p.errorf("';' expected after authserv-id")
	}
	for !p.eof() {
		if p.peek() != ';' {
			return nil, p.errorf("';' expected")
		}
		p.pos++
		if err = p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() { // tolerate a trailing ';'
			break
		}
		r, err := p.resinfo()
		if err != nil {
			return nil, err
		}
		if r.Method == "none" && r.Value == "" {
			if len(h.Results) > 0 {
				return nil, p.errorf("none among results")
			}
			continue
		}
		h.Results = append(h.Results, r)
	}
	return h, nil
}

func (p *parser) resinfo() (Result, error) {
	var r Result
	var err error
	if r.Method, err = p.keyword(); err != nil {
		return r, err
	}
	if err = p.skipCFWS(); err != nil {
		return r, err
	}
	if r.Method == "none" && (p.eof() || p.peek() == ';') {
		return r, nil
	}
	if p.peek() == '/' {
		p.pos++
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		start := p.pos
		for !p.eof() && p.peek() >= '0' && p.peek() <= '9' {
			p.pos++
		}
		if start == p.pos {
			return r, p.errorf("method version expected")
		}
		r.MethodVersion = p.s[start:p.pos]
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
	}
	if p.peek() != '=' {
		return r, p.errorf("'=' expected after method %q", r.Method)
	}
	p.pos++
	if err = p.skipCFWS(); err != nil {
		return r, err
	}
	if r.Value, err = p.keyword(); err != nil {
		return r, err
	}
	for {
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		if p.eof() || p.peek() == ';' {
			return r, nil
		}
		name, err := p.keyword()
		if err != nil {
			return r, err
		}
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		if name == "reason" && p.peek() == '=' {
			p.pos++
			if err = p.skipCFWS(); err != nil {
				return r, err
			}
			if r.Reason, err = p.value(); err != nil {
				return r, err
			}
			continue
		}
		if p.peek() != '.' {
			return r, p.errorf("'.' expected in property")
		}
		p.pos++
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		prop, err := p.keyword()
		if err != nil {
			return r, err
		}
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		if p.peek() != '=' {
			return r, p.errorf("'=' expected in property")
		}
		p.pos++
		if err = p.skipCFWS(); err != nil {
			return r, err
		}
		val, err := p.pvalue()
		if err != nil {
			return r, err
		}
		r.Props = append(r.Props, Prop{Type: name, Name: prop, Value: val})
	}
}
