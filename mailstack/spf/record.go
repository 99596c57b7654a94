package spf

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every record parse error; check_host() turns it
// into permerror (RFC 7208 §4.6).
var ErrSyntax = errors.New("spf: syntax error")

// Directive is one qualified mechanism of a record (RFC 7208 §4.6.1).
type Directive struct {
	// Qualifier is '+', '-', '~' or '?'; '+' when the record gave none.
	Qualifier byte
	// Mechanism is the lower-case name: all, include, a, mx, ptr, ip4,
	// ip6 or exists.
	Mechanism string
	// Domain is the domain-spec, unexpanded; empty when absent.
	Domain string
	// IP is the network of ip4 and ip6.
	IP net.IP
	// Prefix4 and Prefix6 are the CIDR lengths of ip4/ip6 (Prefix4 for
	// ip4, Prefix6 for ip6) and the dual-cidr of a and mx; -1 when absent.
	Prefix4, Prefix6 int
}

// Modifier is a name=value term (RFC 7208 §6): redirect, exp or an
// unknown modifier, which is ignored.
type Modifier struct {
	Name  string // lower-case
	Value string // macro-string, unexpanded
}

// Record is a parsed SPF record (RFC 7208 §4.5, §12).
type Record struct {
	Directives []Directive
	Modifiers  []Modifier
	// Redirect and Exp are the domain-specs of the redirect= and exp=
	// modifiers, empty when absent.
	Redirect, Exp string
}

// IsSPF reports whether the TXT record s is an SPF version 1 record:
// "v=spf1" followed by a space or the end (RFC 7208 §4.5).
func IsSPF(s string) bool {
	if len(s) < 6 || !strings.EqualFold(s[:6], "v=spf1") {
		return false
	}
	return len(s) == 6 || s[6] == ' '
}

// Parse parses an SPF record. Any syntax error, anywhere in the record,
// makes the whole record invalid (RFC 7208 §4.6).
func Parse(s string) (*Record, error) {
	if !IsSPF(s) {
		return nil, fmt.Errorf("%w: record does not start with v=spf1", ErrSyntax)
	}
	for i := 0; i < len(s); i++ {
		// RFC 7208 §3.1, §4.6.1: ASCII, terms separated by SP only.
		if s[i] < 0x20 || s[i] > 0x7e {
			return nil, fmt.Errorf("%w: byte %#x at %d is not printable ASCII", ErrSyntax, s[i], i)
		}
	}
	rec := &Record{}
	var haveRedirect, haveExp bool
	for _, term := range strings.Split(s[6:], " ") {
		if term == "" {
			continue
		}
		if isModifier(term) {
			eq := strings.IndexByte(term, '=')
			name, value := strings.ToLower(term[:eq]), term[eq+1:]
			if !validModifierName(name) {
				return nil, fmt.Errorf("%w: bad modifier name in %q", ErrSyntax, term)
			}
			switch name {
			case "redirect", "exp":
				if err := checkDomainSpec(value); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, term, err)
				}
				if name == "redirect" {
					if haveRedirect {
						return nil, fmt.Errorf("%w: duplicate redirect", ErrSyntax)
					}
					haveRedirect, rec.Redirect = true, value
				} else {
					if haveExp {
						return nil, fmt.Errorf("%w: duplicate exp", ErrSyntax)
					}
					haveExp, rec.Exp = true, value
				}
			default:
				if err := checkMacroString(value, false); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, term, err)
				}
			}
			rec.Modifiers = append(rec.Modifiers, Modifier{Name: name, Value: value})
			continue
		}
		d, err := parseDirective(term)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, term, err)
		}
		rec.Directives = append(rec.Directives, d)
	}
	return rec, nil
}

// isModifier tells a modifier from a mechanism: a modifier's name is
// followed by '=' before any ':' or '/' (RFC 7208 §4.6.1).
func isModifier(term string) bool {
	i := strings.IndexAny(term, "=:/")
	return i >= 0 && term[i] == '='
}

func validModifierName(name string) bool {
	if name == "" || !isAlpha(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parseDirective(term string) (Directive, error) {
	d := Directive{Qualifier: '+', Prefix4: -1, Prefix6: -1}
	switch term[0] {
	case '+', '-', '~', '?':
		d.Qualifier = term[0]
		term = term[1:]
	}
	i := strings.IndexAny(term, ":/")
	name, rest := term, ""
	if i >= 0 {
		name, rest = term[:i], term[i:]
	}
	d.Mechanism = strings.ToLower(name)
	switch d.Mechanism {
	case "all":
		if rest != "" {
			return d, errors.New("all takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") {
			return d, errors.New("domain-spec required")
		}
		d.Domain = rest[1:]
		if err := checkDomainSpec(d.Domain); err != nil {
			return d, err
		}
	case "ptr":
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, ":") {
			return d, errors.New("ptr takes no CIDR length")
		}
		d.Domain = rest[1:]
		if err := checkDomainSpec(d.Domain); err != nil {
			return d, err
		}
	case "a", "mx":
		spec, err := d.parseDualCIDR(rest)
		if err != nil {
			return d, err
		}
		if spec != "" {
			if !strings.HasPrefix(spec, ":") {
				return d, fmt.Errorf("unexpected %q", spec)
			}
			d.Domain = spec[1:]
			if err := checkDomainSpec(d.Domain); err != nil {
				return d, err
			}
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") {
			return d, errors.New("address required")
		}
		addr, plen, hasLen := strings.Cut(rest[1:], "/")
		max := 32
		if d.Mechanism == "ip6" {
			max = 128
		}
		ip := net.ParseIP(addr)
		if ip == nil || (d.Mechanism == "ip4") != (strings.IndexByte(addr, ':') < 0) {
			return d, fmt.Errorf("bad address %q", addr)
		}
		if d.Mechanism == "ip4" {
			ip = ip.To4()
		}
		d.IP = ip
		n := max
		if hasLen {
			var err error
			if n, err = parseCIDRLen(plen, max); err != nil {
				return d, err
			}
		}
		if d.Mechanism == "ip4" {
			d.Prefix4 = n
		} else {
			d.Prefix6 = n
		}
	default:
		return d, fmt.Errorf("unknown mechanism %q", name)
	}
	return d, nil
}

// parseDualCIDR strips "/n", "//n" or "/n//m" from the end of rest
// (RFC 7208 §5.6 dual-cidr-length) and returns what precedes it.
func (d *Directive) parseDualCIDR(rest string) (string, error) {
	if i := strings.LastIndex(rest, "//"); i >= 0 && allDigits(rest[i+2:]) {
		n, err := parseCIDRLen(rest[i+2:], 128)
		if err != nil {
			return "", err
		}
		d.Prefix6, rest = n, rest[:i]
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 && allDigits(rest[i+1:]) {
		n, err := parseCIDRLen(rest[i+1:], 32)
		if err != nil {
			return "", err
		}
		d.Prefix4, rest = n, rest[:i]
	}
	if strings.ContainsRune(rest, '/') && !strings.HasPrefix(rest, ":") {
		return "", fmt.Errorf("bad CIDR length in %q", rest)
	}
	return rest, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// parseCIDRLen parses a CIDR length: no leading zeros, at most max
// (RFC 7208 §5.6).
func parseCIDRLen(s string, max int) (int, error) {
	if !allDigits(s) || (len(s) > 1 && s[0] == '0') || len(s) > 3 {
		return 0, fmt.Errorf("bad CIDR length %q", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("CIDR length %d over %d", n, max)
	}
	return n, nil
}

// checkDomainSpec checks domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1).
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain-spec")
	}
	if err := checkMacroString(s, false); err != nil {
		return err
	}
	if endsWithMacroExpand(s) {
		return nil
	}
	t := strings.TrimSuffix(s, ".")
	i := strings.LastIndexByte(t, '.')
	if i < 0 {
		return fmt.Errorf("domain-spec %q has no top-level label", s)
	}
	if !validTopLabel(t[i+1:]) {
		return fmt.Errorf("bad top-level label in %q", s)
	}
	return nil
}

func endsWithMacroExpand(s string) bool {
	if strings.HasSuffix(s, "}") {
		j := strings.LastIndex(s, "%{")
		return j >= 0 && !strings.ContainsRune(s[j:len(s)-1], '}')
	}
	// %%, %_ and %- count too, unless the '%' is itself escaped.
	if len(s) >= 2 && s[len(s)-2] == '%' && strings.ContainsRune("%_-", rune(s[len(s)-1])) {
		n := 0
		for k := len(s) - 2; k >= 0 && s[k] == '%'; k-- {
			n++
		}
		return n%2 == 1
	}
	return false
}

// validTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ).
func validTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}

// String formats the record in canonical form: directives in order, then
// modifiers in order. Parse(r.String()) gives an equal record.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, d := range r.Directives {
		b.WriteByte(' ')
		b.WriteString(d.String())
	}
	for _, m := range r.Modifiers {
		b.WriteByte(' ')
		b.WriteString(m.Name + "=" + m.Value)
	}
	return b.String()
}

// String formats the directive as it appears in a record.
func (d Directive) String() string {
	var b strings.Builder
	if d.Qualifier != '+' && d.Qualifier != 0 {
		b.WriteByte(d.Qualifier)
	}
	b.WriteString(d.Mechanism)
	switch d.Mechanism {
	case "ip4":
		fmt.Fprintf(&b, ":%s/%d", d.IP, d.Prefix4)
		return b.String()
	case "ip6":
		ip := d.IP.String()
		if v4 := d.IP.To4(); v4 != nil {
			// Keep the IPv6 spelling so the record parses back as ip6.
			ip = "::ffff:" + v4.String()
		}
		fmt.Fprintf(&b, ":%s/%d", ip, d.Prefix6)
		return b.String()
	}
	if d.Domain != "" {
		b.WriteString(":" + d.Domain)
	}
	if d.Prefix4 >= 0 {
		fmt.Fprintf(&b, "/%d", d.Prefix4)
	}
	if d.Prefix6 >= 0 {
		fmt.Fprintf(&b, "//%d", d.Prefix6)
	}
	return b.String()
}
