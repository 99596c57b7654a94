package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// DefaultHeaders are the fields signed when SignOptions.Headers is nil
// (RFC 6376 §5.4.1). From appears twice so that a second From added in
// transit breaks the signature (over-signing, §8.15).
var DefaultHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// SignOptions configure Sign. Domain, Selector and Key are required.
type SignOptions struct {
	Domain   string
	Selector string
	// Key is an *rsa.PrivateKey (≥ 1024 bits, 2048 recommended) or an
	// ed25519.PrivateKey (RFC 8463).
	Key crypto.Signer
	// Headers lists the fields to sign; nil means DefaultHeaders. It must
	// contain From.
	Headers []string
	// Expiration, if not zero, sets x= that far after the signing time.
	Expiration time.Duration
	// Now gives the signing time; nil means time.Now.
	Now func() time.Time
}

// Sign returns the DKIM-Signature header field ("DKIM-Signature: ...\r\n")
// for msg, to be prepended to it. Canonicalization is relaxed/relaxed,
// which survives the whitespace changes relays make.
func Sign(msg io.Reader, opts SignOptions) (string, error) {
	if opts.Domain == "" || opts.Selector == "" || opts.Key == nil {
		return "", errors.New("dkim: sign: domain, selector and key are required")
	}
	hdrs := opts.Headers
	if hdrs == nil {
		hdrs = DefaultHeaders
	}
	so := &msgdkim.SignOptions{
		Domain:                 opts.Domain,
		Selector:               opts.Selector,
		Signer:                 opts.Key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             hdrs,
	}
	if opts.Expiration > 0 {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		so.Expiration = now().Add(opts.Expiration)
	}
	s, err := msgdkim.NewSigner(so)
	if err != nil {
		return "", fmt.Errorf("dkim: sign %s: %w", opts.Domain, err)
	}
	if _, err := io.Copy(s, msg); err != nil {
		s.Close()
		return "", fmt.Errorf("dkim: sign %s: %w", opts.Domain, err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("dkim: sign %s: %w", opts.Domain, err)
	}
	return s.Signature(), nil
}

// SignMessage returns msg with a DKIM-Signature field prepended.
func SignMessage(msg []byte, opts SignOptions) ([]byte, error) {
	h, err := Sign(bytes.NewReader(msg), opts)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(h)+len(msg))
	return append(append(out, h...), msg...), nil
}

// KeyRecord returns the TXT record value to publish at
// <selector>._domainkey.<domain> for pub (RFC 6376 §3.6.1).
func KeyRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("dkim: marshal rsa key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	default:
		return "", fmt.Errorf("dkim: unsupported key type %T", pub)
	}
}

// GenerateKey makes a new signing key: "ed25519" or "rsa" (2048 bits).
func GenerateKey(algo string) (crypto.Signer, error) {
	switch algo {
	case "ed25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dkim: generate ed25519: %w", err)
		}
		return priv, nil
	case "rsa":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("dkim: generate rsa: %w", err)
		}
		return priv, nil
	default:
		return nil, fmt.Errorf("dkim: unknown key algorithm %q", algo)
	}
}
