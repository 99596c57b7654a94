package dkim

import (
	"bytes"
	"context"
	"testing"
)

// FuzzDKIMSignatureHeader verifies messages whose DKIM-Signature value is
// arbitrary: no panic, one result per signature, always a known status.
func FuzzDKIMSignatureHeader(f *testing.F) {
	_, ek := testKeys(f)
	signed := sign(f, testMsg, "example.org", "ed", ek)
	hdr, _, _ := bytes.Cut(signed, []byte("\r\nFrom:"))
	f.Add(string(bytes.TrimPrefix(hdr, []byte("DKIM-Signature:"))))
	for _, s := range []string{
		"v=1; a=rsa-sha256; d=example.org; s=rsa; h=from; bh=AA==; b=AA==",
		"v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=ed; h=From:To; l=10; bh=; b=",
		"v=1; a=rsa-sha1; d=x; s=y; h=from; bh=AA==; b=AA==; x=1; t=2",
		"v=1; q=dns/txt:foo; d=example.org; s=tmp; h=from; a=rsa-sha256; bh=AA==; b=AA==",
		"garbage", "", ";;==;;", "v=1; i=@other.org; d=example.org",
	} {
		f.Add(s)
	}
	v := &Verifier{Resolver: newWorld(f)}
	f.Fuzz(func(t *testing.T, sig string) {
		msg := []byte("DKIM-Signature:" + sig + "\r\n" + testMsg)
		res, err := v.Verify(context.Background(), bytes.NewReader(msg))
		if err != nil {
			return // unreadable header: a clean error is fine
		}
		for _, r := range res {
			switch r.Status {
			case StatusPass, StatusFail, StatusPolicy, StatusNeutral, StatusTemperror, StatusPermerror:
			default:
				t.Fatalf("Verify(%q) status %q", sig, r.Status)
			}
		}
	})
}
