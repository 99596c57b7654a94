package authres

import (
	"bytes"
	"strings"

	"scop/mailstack/dkim"
	"scop/mailstack/dmarc"
	"scop/mailstack/spf"
)

// SPF is the SPF check as the receiver ran it.
type SPF struct {
	Result   string // RFC 8601 value: pass, fail, softfail, neutral, none, temperror, permerror
	MailFrom string // envelope sender as given (may be empty for bounces)
	HELO     string
}

// Input gathers the checks run on one message.
type Input struct {
	SPF   *SPF
	DKIM  []dkim.Result
	DMARC *dmarc.Result
}

// Results turns in into result entries, in the order SPF, DKIM, DMARC.
// Without any check it gives none.
func Results(in Input) []Result {
	var rs []Result
	if in.SPF != nil && in.SPF.Result != "" {
		r := Result{Method: "spf", Value: strings.ToLower(in.SPF.Result)}
		if in.SPF.MailFrom != "" {
			r.Props = append(r.Props, Prop{"smtp", "mailfrom", in.SPF.MailFrom})
		}
		if in.SPF.HELO != "" {
			r.Props = append(r.Props, Prop{"smtp", "helo", in.SPF.HELO})
		}
		rs = append(rs, r)
	}
	if len(in.DKIM) == 0 && (in.SPF != nil || in.DMARC != nil) {
		rs = append(rs, Result{Method: "dkim", Value: string(dkim.StatusNone)})
	}
	for _, d := range in.DKIM {
		r := Result{Method: "dkim", Value: string(d.Status)}
		if d.Status == dkim.StatusPass && d.KeySecure {
			r.Reason = "key DNSSEC-validated"
		} else if d.Err != nil && d.Status != dkim.StatusPass {
			r.Reason = d.Err.Error()
		}
		if d.Identifier != "" {
			r.Props = append(r.Props, Prop{"header", "i", d.Identifier})
		}
		if d.Domain != "" {
			r.Props = append(r.Props, Prop{"header", "d", d.Domain})
		}
		if d.Selector != "" {
			r.Props = append(r.Props, Prop{"header", "s", d.Selector})
		}
		if d.Algorithm != "" {
			r.Props = append(r.Props, Prop{"header", "a", d.Algorithm})
		}
		if d.BPrefix != "" {
			r.Props = append(r.Props, Prop{"header", "b", d.BPrefix})
		}
		rs = append(rs, r)
	}
	if in.DMARC != nil {
		r := Result{Method: "dmarc", Value: string(in.DMARC.Status)}
		if in.DMARC.Policy != "" {
			r.Reason = "p=" + string(in.DMARC.Policy) + " disposition=" + string(in.DMARC.Disposition)
			r.Props = append(r.Props, Prop{"policy", "dmarc", string(in.DMARC.Disposition)})
		}
		if in.DMARC.Domain != "" {
			r.Props = append(r.Props, Prop{"header", "from", in.DMARC.Domain})
		}
		rs = append(rs, r)
	}
	return rs
}

// Field returns the complete header field, folded, ending in CRLF:
// "Authentication-Results: <authservID>;\r\n\t<result>;..." ready to be
// prepended to the message.
func Field(authservID string, in Input) string {
	return "Authentication-Results: " + Format(&Header{AuthServID: authservID, Results: Results(in)}) + "\r\n"
}

// Format formats h as a field value, one result per folded line.
func Format(h *Header) string {
	var b strings.Builder
	b.WriteString(formatValue(h.AuthServID))
	if h.Version != "" && h.Version != "1" {
		b.WriteString(" " + h.Version)
	}
	if len(h.Results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	for _, r := range h.Results {
		b.WriteString(";\r\n\t")
		b.WriteString(r.Method)
		if r.MethodVersion != "" {
			b.WriteString("/" + r.MethodVersion)
		}
		b.WriteString("=" + r.Value)
		if r.Reason != "" {
			b.WriteString(" reason=" + formatValue(r.Reason))
		}
		for _, pr := range r.Props {
			b.WriteString(" " + pr.Type + "." + pr.Name + "=" + formatPValue(pr.Value))
		}
	}
	return b.String()
}

// formatValue quotes s unless it is a non-empty RFC 2045 token.
func formatValue(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x80 && !isTokenChar(byte(r)) }) {
		return s
	}
	return quote(s)
}

// formatPValue keeps addresses and domain names bare, quoting anything else.
func formatPValue(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x80 && !isTokenChar(byte(r)) && r != '@' && r != '/' && r != ':'
	}) {
		return s
	}
	return quote(s)
}

func quote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r' || c == '\n':
			b.WriteByte(' ') // never let a value break the header
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// SPFFrom converts the SPF helper's result, reporting smtp.mailfrom, or
// smtp.helo when the HELO identity was checked (empty MAIL FROM).
func SPFFrom(r spf.Result) *SPF {
	if r.Identity == "helo" {
		return &SPF{Result: string(r.Status), HELO: r.HELO}
	}
	return &SPF{Result: string(r.Status), MailFrom: r.Sender}
}
