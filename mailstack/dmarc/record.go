package dmarc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Policy is a requested handling for failing mail (RFC 7489 §6.3 p=, sp=).
type Policy string

// The policies of RFC 7489 §6.3.
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// Alignment is an identifier alignment mode (RFC 7489 §3.1).
type Alignment string

// The alignment modes: relaxed (same organizational domain) and strict (equal).
const (
	AlignRelaxed Alignment = "r"
	AlignStrict  Alignment = "s"
)

// Record is a parsed DMARC policy record (RFC 7489 §6.3).
type Record struct {
	Policy Policy
	// SubdomainPolicy is sp=, or Policy when absent.
	SubdomainPolicy Policy
	DKIMAlignment   Alignment // adkim=, default relaxed
	SPFAlignment    Alignment // aspf=, default relaxed
	Percent         int       // pct=, default 100
	AggregateURIs   []string  // rua=
	FailureURIs     []string  // ruf=
	FailureOptions  string    // fo=, default "0"
	ReportInterval  int       // ri= in seconds, default 86400
}

// ErrNotDMARC means the TXT record is not a DMARC record (it does not
// start with v=DMARC1) and must be ignored, RFC 7489 §6.6.3.
var ErrNotDMARC = errors.New("dmarc: not a DMARC record")

// ErrSyntax wraps errors of a record that is DMARC but malformed.
var ErrSyntax = errors.New("dmarc: record syntax")

// ParseRecord parses a DMARC TXT record. Tag names and keyword values are
// case-insensitive (ABNF strings); unknown tags are ignored (§6.3). Invalid
// values of optional tags fall back to their defaults, as the RFC asks
// receivers to be liberal; an invalid or missing p= is an error unless a
// valid rua= exists, in which case p=none applies (§6.6.3).
func ParseRecord(txt string) (*Record, error) {
	parts := strings.Split(txt, ";")
	k, v, ok := strings.Cut(parts[0], "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(k), "v") || strings.TrimSpace(v) != "DMARC1" {
		return nil, ErrNotDMARC
	}
	r := &Record{
		DKIMAlignment:  AlignRelaxed,
		SPFAlignment:   AlignRelaxed,
		Percent:        100,
		FailureOptions: "0",
		ReportInterval: 86400,
	}
	var pErr, spErr error
	var haveP, haveSP bool
	seen := map[string]bool{}
	for _, part := range parts[1:] {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: tag without value %q", ErrSyntax, strings.TrimSpace(part))
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if seen[k] {
			continue // first occurrence wins
		}
		seen[k] = true
		switch k {
		case "p":
			haveP = true
			r.Policy, pErr = parsePolicy(v)
		case "sp":
			haveSP = true
			r.SubdomainPolicy, spErr = parsePolicy(v)
		case "adkim":
			if a, ok := parseAlignment(v); ok {
				r.DKIMAlignment = a
			}
		case "aspf":
			if a, ok := parseAlignment(v); ok {
				r.SPFAlignment = a
			}
		case "pct":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 100 {
				r.Percent = n
			}
		case "rua":
			r.AggregateURIs = splitURIs(v)
		case "ruf":
			r.FailureURIs = splitURIs(v)
		case "fo":
			r.FailureOptions = v
		case "ri":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				r.ReportInterval = n
			}
		}
	}
	if !haveP || pErr != nil || (haveSP && spErr != nil) {
		if len(r.AggregateURIs) > 0 {
			r.Policy, r.SubdomainPolicy = PolicyNone, PolicyNone
			return r, nil
		}
		if !haveP {
			return nil, fmt.Errorf("%w: missing p=", ErrSyntax)
		}
		if pErr != nil {
			return nil, pErr
		}
		return nil, spErr
	}
	if !haveSP {
		r.SubdomainPolicy = r.Policy
	}
	return r, nil
}

// String formats the record back into TXT form.
func (r *Record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=DMARC1; p=%s", r.Policy)
	if r.SubdomainPolicy != "" && r.SubdomainPolicy != r.Policy {
		fmt.Fprintf(&b, "; sp=%s", r.SubdomainPolicy)
	}
	if r.DKIMAlignment == AlignStrict {
		b.WriteString("; adkim=s")
	}
	if r.SPFAlignment == AlignStrict {
		b.WriteString("; aspf=s")
	}
	if r.Percent != 100 {
		fmt.Fprintf(&b, "; pct=%d", r.Percent)
	}
	if len(r.AggregateURIs) > 0 {
		fmt.Fprintf(&b, "; rua=%s", strings.Join(r.AggregateURIs, ","))
	}
	if len(r.FailureURIs) > 0 {
		fmt.Fprintf(&b, "; ruf=%s", strings.Join(r.FailureURIs, ","))
	}
	return b.String()
}

func parsePolicy(v string) (Policy, error) {
	switch p := Policy(strings.ToLower(v)); p {
	case PolicyNone, PolicyQuarantine, PolicyReject:
		return p, nil
	}
	return "", fmt.Errorf("%w: bad policy %q", ErrSyntax, v)
}

func parseAlignment(v string) (Alignment, bool) {
	switch a := Alignment(strings.ToLower(v)); a {
	case AlignRelaxed, AlignStrict:
		return a, true
	}
	return "", false
}

// splitURIs keeps the syntactically plausible report URIs (scheme:rest).
func splitURIs(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if i := strings.Index(u, ":"); i > 0 && !strings.ContainsAny(u, " ;") {
			out = append(out, u)
		}
	}
	return out
}
