// Package dkim verifies and creates DomainKeys Identified Mail signatures
// (RFC 6376, RFC 8301, RFC 8463) on top of github.com/emersion/go-msgauth,
// with key lookups through the mail stack's DNSSEC-aware resolver so that
// each result says whether its key record was authentic.
package dkim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"scop/mailstack/dns"
)

// Status is a DKIM verification result as named by RFC 8601 §2.7.1.
type Status string

// The statuses; each constant says when it applies.
const (
	// StatusNone: the message carried no signature.
	StatusNone Status = "none"
	// StatusPass: the signature verified.
	StatusPass Status = "pass"
	// StatusFail: the signature or body hash did not verify.
	StatusFail Status = "fail"
	// StatusPolicy: the signature may be valid but uses something we refuse
	// (body length l=, rsa-sha1, expired x=).
	StatusPolicy Status = "policy"
	// StatusNeutral: the signature was not evaluated (over the per-message limit).
	StatusNeutral Status = "neutral"
	// StatusTemperror: the key could not be fetched for now (DNS failure).
	StatusTemperror Status = "temperror"
	// StatusPermerror: malformed signature, missing or unusable key.
	StatusPermerror Status = "permerror"
)

// DefaultMaxSignatures bounds the signatures checked per message: each one
// costs a DNS query and a public-key operation.
const DefaultMaxSignatures = 5

// Result is the outcome for one DKIM-Signature field, in message order.
type Result struct {
	Domain     string // d=, the signing domain (SDID)
	Selector   string // s=
	Identifier string // i=, or "@"+Domain when absent
	Algorithm  string // a=, e.g. rsa-sha256
	// BPrefix is the start of b= (RFC 6008 header.b), to tell signatures apart.
	BPrefix string
	Status  Status
	// KeySecure reports that the key record was validated by DNSSEC.
	KeySecure bool
	// Err explains any status but pass, for logs and Authentication-Results reasons.
	Err error
}

// Verifier checks the signatures of a message.
type Verifier struct {
	Resolver dns.Resolver
	// MaxSignatures bounds the signatures checked; later ones are neutral.
	// Zero means DefaultMaxSignatures.
	MaxSignatures int
}

// Verify checks every DKIM-Signature of the message read from r. A message
// without signatures gives an empty slice. The error is only for a message
// whose header cannot be read; per-signature problems are in each Result.
func (v *Verifier) Verify(ctx context.Context, r io.Reader) ([]Result, error) {
	br := bufio.NewReader(r)
	hdr, err := readHeader(br)
	if err != nil {
		return nil, fmt.Errorf("dkim: read header: %w", err)
	}
	sigs := signatureFields(hdr)
	if len(sigs) == 0 {
		return nil, nil
	}
	max := v.MaxSignatures
	if max <= 0 {
		max = DefaultMaxSignatures
	}
	results := make([]Result, len(sigs))
	for i, s := range sigs {
		results[i] = s.result()
		if i >= max {
			results[i].Status = StatusNeutral
			results[i].Err = errors.New("dkim: too many signatures, not evaluated")
		}
	}

	lk := &keyLookup{ctx: ctx, res: v.Resolver, secure: map[string]bool{}}
	opts := &msgdkim.VerifyOptions{LookupTXT: lk.lookupTXT, MaxVerifications: max}
	body := io.MultiReader(bytes.NewReader(hdr), br)
	verifs, err := msgdkim.VerifyWithOptions(body, opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		// The message itself could not be processed: retrying will not
		// help, so this is permanent, not temperror.
		for i := range results {
			if results[i].Status == "" {
				results[i].Status = StatusPermerror
				results[i].Err = fmt.Errorf("dkim: verify: %w", err)
			}
		}
		return results, nil
	}
	for i, vf := range verifs {
		if i >= len(results) {
			break
		}
		res := &results[i]
		if res.Status != "" { // already decided by policy
			continue
		}
		res.KeySecure = lk.isSecure(res.Selector + "._domainkey." + res.Domain)
		switch {
		case vf.Err == nil:
			res.Status = StatusPass
		case msgdkim.IsTempFail(vf.Err):
			res.Status, res.Err = StatusTemperror, vf.Err
		case msgdkim.IsPermFail(vf.Err):
			res.Status, res.Err = StatusPermerror, vf.Err
		default:
			res.Status, res.Err = StatusFail, vf.Err
		}
	}
	for i := range results {
		if results[i].Status == "" {
			results[i].Status = StatusNeutral
			results[i].Err = errors.New("dkim: signature not evaluated")
		}
	}
	return results, nil
}

// keyLookup adapts our Resolver to go-msgauth's LookupTXT hook and keeps
// the DNSSEC status of each key record it fetched.
type keyLookup struct {
	ctx    context.Context
	res    dns.Resolver
	mu     sync.Mutex
	secure map[string]bool
}

func (k *keyLookup) lookupTXT(name string) ([]string, error) {
	if k.res == nil {
		return nil, tempError{fmt.Errorf("no resolver")}
	}
	txts, sec, err := k.res.LookupTXT(k.ctx, name)
	if err != nil {
		if errors.Is(err, dns.ErrNotFound) {
			return nil, fmt.Errorf("lookup %s: %w", name, err)
		}
		// go-msgauth classifies temporary failures through net.Error.
		return nil, tempError{fmt.Errorf("lookup %s: %w", name, err)}
	}
	k.mu.Lock()
	k.secure[strings.ToLower(strings.TrimSuffix(name, "."))] = sec == dns.Secure
	k.mu.Unlock()
	return txts, nil
}

func (k *keyLookup) isSecure(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.secure[strings.ToLower(strings.TrimSuffix(name, "."))]
}

// tempError satisfies net.Error so go-msgauth reports a temporary failure.
type tempError struct{ err error }

func (e tempError) Error() string   { return e.err.Error() }
func (e tempError) Unwrap() error   { return e.err }
func (e tempError) Timeout() bool   { return false }
func (e tempError) Temporary() bool { return true }

// maxHeaderBytes bounds the header we buffer, as go-message does.
const maxHeaderBytes = 1 << 20

// readHeader returns the raw header block including the blank line that
// ends it (or everything up to EOF when there is no body).
func readHeader(br *bufio.Reader) ([]byte, error) {
	var hdr []byte
	midLine := false // the previous chunk ended inside a long line
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return nil, err
		}
		hdr = append(hdr, line...)
		if len(hdr) > maxHeaderBytes {
			return nil, errors.New("header too large")
		}
		if errors.Is(err, io.EOF) {
			return hdr, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			midLine = true
			continue
		}
		if !midLine && len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
			return hdr, nil
		}
		midLine = false
	}
}

// sigField is one parsed DKIM-Signature field.
type sigField struct{ tags map[string]string }

// signatureFields returns the DKIM-Signature fields of a raw header, in order.
func signatureFields(hdr []byte) []sigField {
	var out []sigField
	for _, f := range splitFields(hdr) {
		name, value, ok := strings.Cut(f, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		out = append(out, sigField{tags: ParseTags(value)})
	}
	return out
}

func (s sigField) result() Result {
	r := Result{
		Domain:     strings.ToLower(stripWS(s.tags["d"])),
		Selector:   stripWS(s.tags["s"]),
		Identifier: stripWS(s.tags["i"]),
		Algorithm:  strings.ToLower(stripWS(s.tags["a"])),
	}
	if r.Identifier == "" && r.Domain != "" {
		r.Identifier = "@" + r.Domain
	}
	b := stripWS(s.tags["b"])
	if len(b) > 8 {
		b = b[:8]
	}
	r.BPrefix = b
	// RFC 8301 §3.1 forbids rsa-sha1; l= lets an attacker append content.
	// Both are refusals of an otherwise checkable signature: "policy".
	if _, ok := s.tags["l"]; ok {
		r.Status, r.Err = StatusPolicy, errors.New("dkim: body length tag l= refused")
	} else if strings.HasSuffix(r.Algorithm, "-sha1") {
		r.Status, r.Err = StatusPolicy, errors.New("dkim: rsa-sha1 refused (RFC 8301)")
	}
	return r
}

// splitFields unfolds a raw header block into "Name: value" fields.
func splitFields(hdr []byte) []string {
	var fields []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			fields = append(fields, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.SplitAfter(string(hdr), "\n") {
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			cur.WriteString(l)
			continue
		}
		flush()
		cur.WriteString(l)
	}
	flush()
	return fields
}

// ParseTags splits a DKIM tag list (RFC 6376 §3.2) into a map. Malformed
// entries are skipped: the verifier reports the syntax error itself.
func ParseTags(s string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; dup || k == "" {
			continue
		}
		tags[k] = strings.TrimSpace(v)
	}
	return tags
}

func stripWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
