// Package dmarc evaluates Domain-based Message Authentication, Reporting and
// Conformance (RFC 7489): it finds the policy of the RFC5322.From domain
// (falling back to the organizational domain from the Public Suffix List),
// checks SPF and DKIM identifier alignment, and turns the policy, sp= and
// pct= into a disposition for the receiver. Reporting is not implemented.
package dmarc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"golang.org/x/net/publicsuffix"

	"scop/mailstack/dkim"
	"scop/mailstack/dns"
	"scop/mailstack/spf"
)

// Status is the DMARC result for Authentication-Results (RFC 8601 §2.7.4
// and RFC 7489 §11.2).
type Status string

// The DMARC results.
const (
	StatusNone      Status = "none"      // no policy published
	StatusPass      Status = "pass"      // an aligned SPF or DKIM pass
	StatusFail      Status = "fail"      // policy published, nothing aligned passed
	StatusTemperror Status = "temperror" // policy lookup failed temporarily
	StatusPermerror Status = "permerror" // bad From (none or several domains), bad record
)

// Disposition is what the receiver should do with the message.
type Disposition string

// The dispositions, from a failing message's applied policy (§6.6.4).
const (
	DispositionNone       Disposition = "none"
	DispositionQuarantine Disposition = "quarantine"
	DispositionReject     Disposition = "reject"
)

// SPF is the SPF outcome the caller computed for the envelope sender:
// Result is its RFC 8601 value (pass, fail, softfail, neutral, none,
// temperror, permerror) and Domain the MAIL FROM domain (or the HELO
// domain when MAIL FROM was empty).
type SPF struct {
	Result string
	Domain string
}

// Input is what DMARC evaluates: the author domain and the SPF and DKIM results.
type Input struct {
	// FromDomain is the domain of the RFC5322.From address (see AuthorDomain).
	FromDomain string
	SPF        SPF
	DKIM       []dkim.Result
}

// Result is the DMARC evaluation of one message.
type Result struct {
	Status      Status
	Disposition Disposition
	// Domain is the author domain evaluated (header.from).
	Domain string
	// PolicyDomain is where the record was found: Domain or its organizational domain.
	PolicyDomain string
	Record       *Record
	// RecordSecure reports that the record was validated by DNSSEC.
	RecordSecure bool
	// Policy is the policy that applied (p= or sp=); empty without a record.
	Policy      Policy
	SPFAligned  bool
	DKIMAligned bool
	// Sampled is false when pct= excluded the message from the policy, in
	// which case the disposition was lowered one step (RFC 7489 §6.6.4).
	Sampled bool
	Err     error
}

// Evaluator evaluates DMARC. The zero value needs only Resolver.
type Evaluator struct {
	Resolver dns.Resolver
	// Percent returns a number in [0,100) for pct= sampling; nil means
	// math/rand. Tests inject a fixed source.
	Percent func() int
}

// Evaluate applies the author domain's DMARC policy to in.
func (e *Evaluator) Evaluate(ctx context.Context, in Input) Result {
	res := Result{Status: StatusNone, Disposition: DispositionNone, Sampled: true}
	from := normDomain(in.FromDomain)
	res.Domain = from
	if from == "" {
		res.Status, res.Err = StatusPermerror, errors.New("dmarc: no author domain")
		return res
	}
	rec, polDomain, secure, err := e.Lookup(ctx, from)
	switch {
	case errors.Is(err, ErrNoRecord):
		return res
	case err != nil:
		res.Err = err
		if errors.Is(err, dns.ErrTemporary) {
			res.Status = StatusTemperror
		} else {
			res.Status = StatusPermerror
		}
		return res
	}
	res.Record, res.PolicyDomain, res.RecordSecure = rec, polDomain, secure
	res.Policy = rec.Policy
	if polDomain != from {
		res.Policy = rec.SubdomainPolicy
	}

	if strings.EqualFold(in.SPF.Result, "pass") && Aligned(from, in.SPF.Domain, rec.SPFAlignment) {
		res.SPFAligned = true
	}
	for _, d := range in.DKIM {
		if d.Status == dkim.StatusPass && Aligned(from, d.Domain, rec.DKIMAlignment) {
			res.DKIMAligned = true
			break
		}
	}
	if res.SPFAligned || res.DKIMAligned {
		res.Status = StatusPass
		return res
	}
	res.Status = StatusFail
	res.Disposition = Disposition(res.Policy)
	if rec.Percent < 100 && res.Policy != PolicyNone && e.percent() >= rec.Percent {
		// §6.6.4: outside the sample, apply the next less strict policy.
		res.Sampled = false
		if res.Disposition == DispositionReject {
			res.Disposition = DispositionQuarantine
		} else {
			res.Disposition = DispositionNone
		}
	}
	return res
}

func (e *Evaluator) percent() int {
	if e.Percent != nil {
		return e.Percent()
	}
	return rand.IntN(100)
}

// ErrNoRecord means neither the domain nor its organizational domain
// publishes a DMARC record.
var ErrNoRecord = errors.New("dmarc: no record")

var errMultiple = errors.New("dmarc: several records")

// Lookup finds the DMARC record for domain at _dmarc.<domain>, then at
// _dmarc.<organizational domain> (RFC 7489 §6.6.3). It returns the record,
// the domain it was found at and whether the answer was DNSSEC-secure.
func (e *Evaluator) Lookup(ctx context.Context, domain string) (*Record, string, bool, error) {
	domain = normDomain(domain)
	rec, secure, err := e.lookupAt(ctx, domain)
	if errors.Is(err, errMultiple) {
		return nil, "", false, ErrNoRecord
	}
	if !errors.Is(err, ErrNoRecord) {
		return rec, domain, secure, err
	}
	org := OrganizationalDomain(domain)
	if org == "" || org == domain {
		return nil, "", false, ErrNoRecord
	}
	rec, secure, err = e.lookupAt(ctx, org)
	if errors.Is(err, errMultiple) {
		err = ErrNoRecord
	}
	return rec, org, secure, err
}

func (e *Evaluator) lookupAt(ctx context.Context, domain string) (*Record, bool, error) {
	name := "_dmarc." + domain
	txts, sec, err := e.Resolver.LookupTXT(ctx, name)
	if errors.Is(err, dns.ErrNotFound) {
		return nil, false, ErrNoRecord
	}
	if err != nil {
		return nil, false, fmt.Errorf("dmarc: lookup %s: %w", name, err)
	}
	var found []*Record
	var synErr error
	for _, t := range txts {
		r, err := ParseRecord(t)
		if errors.Is(err, ErrNotDMARC) {
			continue
		}
		if err != nil {
			synErr = err
			continue
		}
		found = append(found, r)
	}
	switch {
	case len(found) == 1:
		return found[0], sec == dns.Secure, nil
	case len(found) > 1:
		// §6.6.3: several records means no DMARC processing.
		return nil, false, errMultiple
	case synErr != nil:
		return nil, false, fmt.Errorf("dmarc: record at %s: %w", name, synErr)
	}
	return nil, false, ErrNoRecord
}

// OrganizationalDomain returns the registered domain of d (one label below
// its public suffix), or "" when d is itself a public suffix.
func OrganizationalDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(normDomain(d))
	if err != nil {
		return ""
	}
	return org
}

// Aligned reports whether id is aligned with the author domain from in
// mode a: equal for strict, same organizational domain for relaxed (§3.1).
func Aligned(from, id string, a Alignment) bool {
	from, id = normDomain(from), normDomain(id)
	if from == "" || id == "" {
		return false
	}
	if from == id {
		return true
	}
	if a == AlignStrict {
		return false
	}
	of := OrganizationalDomain(from)
	return of != "" && of == OrganizationalDomain(id)
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// SPFInput converts the SPF helper's result: its checked domain is the
// MAIL FROM domain, or the HELO name for bounces (RFC 7489 §3.1.2).
func SPFInput(r spf.Result) SPF {
	return SPF{Result: string(r.Status), Domain: r.Domain}
}
