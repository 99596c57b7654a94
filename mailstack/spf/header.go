package spf

import (
	"strings"
)

// AuthResultsProperty returns the Authentication-Results property of the
// result (RFC 8601 §2.7.2): "smtp.mailfrom" with the MAIL FROM domain, or
// "smtp.helo" with the HELO name.
func (r Result) AuthResultsProperty() (name, value string) {
	if r.Identity == "helo" {
		return "smtp.helo", r.HELO
	}
	return "smtp.mailfrom", r.Domain
}

// AuthResults renders the "spf=" piece of an Authentication-Results
// header field, e.g. "spf=pass smtp.mailfrom=example.org".
func (r Result) AuthResults() string {
	name, value := r.AuthResultsProperty()
	return "spf=" + string(r.Status) + " " + name + "=" + headerValue(value)
}

// ReceivedSPF renders the value of a Received-SPF header field (RFC 7208
// §9.1) for a receiver named receiver: result, comment, then key-value
// pairs.
func (r Result) ReceivedSPF(receiver string) string {
	var b strings.Builder
	b.WriteString(string(r.Status))
	b.WriteString(" (")
	b.WriteString(commentText(receiver + ": " + r.comment()))
	b.WriteString(")")
	kv := func(k, v string) {
		b.WriteString(" " + k + "=" + headerValue(v) + ";")
	}
	if r.IP != nil {
		kv("client-ip", r.IP.String())
	}
	kv("envelope-from", r.Sender)
	kv("helo", r.HELO)
	kv("identity", r.Identity)
	if receiver != "" {
		kv("receiver", receiver)
	}
	if r.Mechanism != "" {
		kv("mechanism", r.Mechanism)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// comment is the human-readable part, in the words RFC 7208 §9.1 suggests.
func (r Result) comment() string {
	ip := ""
	if r.IP != nil {
		ip = r.IP.String()
	}
	switch r.Status {
	case Pass:
		return "domain of " + r.Sender + " designates " + ip + " as permitted sender"
	case Fail:
		return "domain of " + r.Sender + " does not designate " + ip + " as permitted sender"
	case SoftFail:
		return "domain of transitioning " + r.Sender + " does not designate " + ip + " as permitted sender"
	case Neutral:
		return ip + " is neither permitted nor denied by domain of " + r.Sender
	case None:
		return "domain of " + r.Sender + " does not provide an SPF record"
	case TempError:
		return "temporary error looking up the SPF record of " + r.Domain
	default:
		return "permanent error in the SPF record of " + r.Domain
	}
}

// commentText makes s safe inside a header comment: printable ASCII
// without parentheses or backslashes, so untrusted names cannot end it.
func commentText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '(' || c == ')' || c == '\\' {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// headerValue returns v as a dot-atom when it is one, else as a quoted
// string (RFC 5322 §3.2.3, §3.2.4); octets outside printable ASCII are
// replaced, as the values come from the network.
func headerValue(v string) string {
	atom := v != ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			atom = false
		}
	}
	if atom && v[0] != '.' && v[len(v)-1] != '.' && !strings.Contains(v, "..") {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
