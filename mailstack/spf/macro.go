package spf

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrMacro is wrapped by macro syntax errors (RFC 7208 §7.1).
var ErrMacro = errors.New("spf: bad macro")

// MacroData holds what the macro letters expand to (RFC 7208 §7.2).
type MacroData struct {
	Sender   string    // s; l and o are its local part and domain
	Domain   string    // d, the domain being checked
	IP       net.IP    // i, c and v
	HELO     string    // h
	Receiver string    // r (explanations only), "unknown" when empty
	Now      time.Time // t (explanations only)
	// PTR returns the validated name of IP for %{p}; it is called only
	// when a record uses %{p}, because it costs DNS lookups. Nil gives
	// "unknown".
	PTR func() string
}

// ExpandMacro expands the macro-string s (explain-string when exp, which
// also allows spaces and the c, r and t letters).
func ExpandMacro(s string, d *MacroData, exp bool) (string, error) {
	return expandMacro(s, d, exp)
}

// checkMacroString checks the syntax of s without expanding it.
func checkMacroString(s string, exp bool) error {
	_, err := expandMacro(s, nil, exp)
	return err
}

func expandMacro(s string, d *MacroData, exp bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E; explain-string adds SP.
			if (c < 0x21 || c > 0x7e) && !(exp && c == ' ') {
				return "", fmt.Errorf("%w: character %#x in %q", ErrMacro, c, s)
			}
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%w: lone %% at end of %q", ErrMacro, s)
		}
		switch s[i+1] {
		case '%':
			b.WriteByte('%')
			i += 2
			continue
		case '_':
			b.WriteByte(' ')
			i += 2
			continue
		case '-':
			b.WriteString("%20")
			i += 2
			continue
		case '{':
		default:
			return "", fmt.Errorf("%w: %%%c in %q", ErrMacro, s[i+1], s)
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated %%{ in %q", ErrMacro, s)
		}
		inner := s[i+2 : i+end]
		i += end + 1
		v, err := expandLetter(inner, d, exp)
		if err != nil {
			return "", fmt.Errorf("%w in %q", err, s)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// expandLetter expands one "%{" macro-letter transformers *delimiter "}".
func expandLetter(inner string, d *MacroData, exp bool) (string, error) {
	if inner == "" {
		return "", fmt.Errorf("%w: empty %%{}", ErrMacro)
	}
	letter := inner[0]
	lower := letter | 0x20
	switch lower {
	case 's', 'l', 'o', 'd', 'i', 'p', 'v', 'h':
	case 'c', 'r', 't':
		if !exp {
			return "", fmt.Errorf("%w: %%{%c} only allowed in exp", ErrMacro, letter)
		}
	default:
		return "", fmt.Errorf("%w: unknown macro letter %q", ErrMacro, letter)
	}
	if !isAlpha(letter) {
		return "", fmt.Errorf("%w: unknown macro letter %q", ErrMacro, letter)
	}
	rest := inner[1:]
	j := 0
	for j < len(rest) && isDigit(rest[j]) {
		j++
	}
	keep := 0
	if j > 0 {
		n, err := strconv.Atoi(rest[:j])
		if err != nil || n > 1000 {
			n = 1000 // more parts than any name has
		}
		if n == 0 {
			return "", fmt.Errorf("%w: zero transformer digit", ErrMacro)
		}
		keep = n
	}
	rest = rest[j:]
	reverse := false
	if rest != "" && rest[0]|0x20 == 'r' {
		reverse = true
		rest = rest[1:]
	}
	for k := 0; k < len(rest); k++ {
		if !strings.ContainsRune(".-+,/_=", rune(rest[k])) {
			return "", fmt.Errorf("%w: bad delimiter %q", ErrMacro, rest[k])
		}
	}
	if d == nil {
		return "", nil // syntax check only
	}
	v := d.value(lower)
	delims := rest
	if delims == "" {
		delims = "."
	}
	if keep > 0 || reverse || rest != "" {
		parts := splitAny(v, delims)
		if reverse {
			for a, z := 0, len(parts)-1; a < z; a, z = a+1, z-1 {
				parts[a], parts[z] = parts[z], parts[a]
			}
		}
		if keep > 0 && keep < len(parts) {
			parts = parts[len(parts)-keep:]
		}
		v = strings.Join(parts, ".")
	}
	if letter != lower {
		v = urlEscape(v)
	}
	return v, nil
}

func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func (d *MacroData) value(letter byte) string {
	switch letter {
	case 's':
		return d.Sender
	case 'l':
		if i := strings.LastIndexByte(d.Sender, '@'); i >= 0 {
			return d.Sender[:i]
		}
		return "postmaster"
	case 'o':
		if i := strings.LastIndexByte(d.Sender, '@'); i >= 0 {
			return d.Sender[i+1:]
		}
		return d.Sender
	case 'd':
		return d.Domain
	case 'i':
		if v4 := d.IP.To4(); v4 != nil {
			return v4.String()
		}
		return nibbles(d.IP)
	case 'c':
		if v4 := d.IP.To4(); v4 != nil {
			return v4.String()
		}
		return d.IP.String()
	case 'v':
		if d.IP.To4() != nil {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return d.HELO
	case 'p':
		if d.PTR != nil {
			return d.PTR()
		}
		return "unknown"
	case 'r':
		if d.Receiver == "" {
			return "unknown"
		}
		return d.Receiver
	case 't':
		return strconv.FormatInt(d.Now.Unix(), 10)
	}
	return ""
}

// nibbles writes an IPv6 address as dot-separated hex nibbles, most
// significant first (RFC 7208 §7.3).
func nibbles(ip net.IP) string {
	ip = ip.To16()
	if ip == nil {
		return ""
	}
	// Upper case, as the RFC 7208 suite's exp-txt-macro-char case expects;
	// DNS ignores the case of the names built from it.
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, 63)
	for i, c := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[c>>4], '.', hex[c&0xf])
	}
	return string(b)
}

// urlEscape escapes all but the URI unreserved characters (RFC 3986 §2.3),
// for upper-case macro letters (RFC 7208 §7.3).
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
