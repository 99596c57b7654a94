package dmarc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-message/mail"
)

// ErrAuthor reports a From field DMARC cannot evaluate: missing, unparsable
// or naming several domains (RFC 7489 §6.6.1).
var ErrAuthor = errors.New("dmarc: unusable From")

// AuthorDomain returns the domain of the RFC5322.From address of h.
func AuthorDomain(h mail.Header) (string, error) {
	froms := h.Values("From")
	if len(froms) != 1 {
		return "", fmt.Errorf("%w: %d From fields", ErrAuthor, len(froms))
	}
	addrs, err := h.AddressList("From")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAuthor, err)
	}
	domain := ""
	for _, a := range addrs {
		_, d, ok := strings.Cut(a.Address, "@")
		if !ok || d == "" {
			return "", fmt.Errorf("%w: address without domain", ErrAuthor)
		}
		d = normDomain(d)
		if domain != "" && d != domain {
			return "", fmt.Errorf("%w: several author domains", ErrAuthor)
		}
		domain = d
	}
	if domain == "" {
		return "", fmt.Errorf("%w: no address", ErrAuthor)
	}
	return domain, nil
}
