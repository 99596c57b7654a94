// Package dns is the mail stack's view of the DNS: lookups that report, for
// each answer, whether it was proven authentic by DNSSEC (RFC 4033-4035).
// The validating resolver on github.com/miekg/dns implements Resolver; so
// do test resolvers built from maps.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Security is the DNSSEC status of an answer (RFC 4035 §4.3).
type Security int

const (
	// Insecure: the answer comes from a zone proven unsigned (or no trust anchor covers it).
	Insecure Security = iota
	// Secure: the answer was validated from the trust anchor down.
	Secure
	// Bogus: validation should have succeeded and failed. Bogus answers are never returned as data.
	Bogus
)

// String returns the lower-case name used in logs and errors.
func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Bogus:
		return "bogus"
	default:
		return "insecure"
	}
}

// ErrNotFound is returned, possibly wrapped, when the name does not exist
// (NXDOMAIN) or has no records of the asked type (NODATA).
var ErrNotFound = errors.New("dns: no such record")

// ErrTemporary is returned, possibly wrapped, for time-outs, SERVFAIL and
// bogus answers: the caller should treat the lookup as a temporary error.
var ErrTemporary = errors.New("dns: temporary failure")

// ErrBogus is returned, possibly wrapped, when DNSSEC validation failed for
// an answer that should have been signed. It wraps ErrTemporary so callers
// that only know ErrTemporary treat it as a temporary error (RFC 4035 §5.5).
var ErrBogus = fmt.Errorf("dns: DNSSEC validation failed (bogus): %w", ErrTemporary)

// Resolver looks up the record types the mail checks need. Names are
// fully qualified or relative to the root; a trailing dot is optional.
type Resolver interface {
	// LookupTXT returns one string per TXT record, the record's
	// character-strings concatenated without separator (RFC 7208 §3.3).
	LookupTXT(ctx context.Context, name string) ([]string, Security, error)
	// LookupIP returns the A and AAAA records of name.
	LookupIP(ctx context.Context, name string) ([]net.IP, Security, error)
	// LookupA and LookupAAAA return one address family each.
	LookupA(ctx context.Context, name string) ([]net.IP, Security, error)
	LookupAAAA(ctx context.Context, name string) ([]net.IP, Security, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, Security, error)
	// LookupPTR returns the names of ip's reverse record.
	LookupPTR(ctx context.Context, ip net.IP) ([]string, Security, error)
}
