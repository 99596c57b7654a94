package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"os"
	"strings"
	"sync"
	"testing"

	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Sun, 22 Nov 2026 01:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hello Bob,\r\nthis is a test.\r\n"

var (
	keysOnce sync.Once
	rsaKey   crypto.Signer
	edKey    crypto.Signer
)

func testKeys(t testing.TB) (crypto.Signer, crypto.Signer) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = GenerateKey("rsa"); err != nil {
			t.Fatal(err)
		}
		if edKey, err = GenerateKey("ed25519"); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey, edKey
}

func newWorld(t testing.TB) *dnstest.MapResolver {
	rk, ek := testKeys(t)
	rrec, err := KeyRecord(rk.Public())
	if err != nil {
		t.Fatal(err)
	}
	erec, err := KeyRecord(ek.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &dnstest.MapResolver{
		TXT: map[string][]string{
			"rsa._domainkey.example.org":     {rrec},
			"ed._domainkey.example.org":      {erec},
			"ed._domainkey.secure.org":       {erec},
			"revoked._domainkey.example.org": {"v=DKIM1; p="},
		},
		Fail:     map[string]error{"TXT tmp._domainkey.example.org": dns.ErrTemporary},
		Security: map[string]dns.Security{"ed._domainkey.secure.org": dns.Secure},
	}
}

func sign(t testing.TB, msg, domain, sel string, key crypto.Signer) []byte {
	t.Helper()
	out, err := SignMessage([]byte(msg), SignOptions{Domain: domain, Selector: sel, Key: key})
	if err != nil {
		t.Fatalf("SignMessage: %v", err)
	}
	return out
}

func TestVerify(t *testing.T) {
	rk, ek := testKeys(t)
	res := newWorld(t)
	tamper := func(b []byte) []byte { return bytes.Replace(b, []byte("a test"), []byte("a TEST"), 1) }
	tests := []struct {
		name       string
		msg        []byte
		wantStatus []Status
		wantSecure bool
	}{
		{"rsa pass", sign(t, testMsg, "example.org", "rsa", rk), []Status{StatusPass}, false},
		{"ed25519 pass", sign(t, testMsg, "example.org", "ed", ek), []Status{StatusPass}, false},
		{"secure key", sign(t, testMsg, "secure.org", "ed", ek), []Status{StatusPass}, true},
		{"body changed", tamper(sign(t, testMsg, "example.org", "rsa", rk)), []Status{StatusFail}, false},
		{"wrong key", sign(t, testMsg, "example.org", "rsa", ek), []Status{StatusPermerror}, false},
		{"no key", sign(t, testMsg, "example.org", "missing", ek), []Status{StatusPermerror}, false},
		{"revoked key", sign(t, testMsg, "example.org", "revoked", ek), []Status{StatusPermerror}, false},
		{"dns temp failure", sign(t, testMsg, "example.org", "tmp", ek), []Status{StatusTemperror}, false},
		{"unsigned", []byte(testMsg), nil, false},
		{"two signatures", sign(t, string(sign(t, testMsg, "example.org", "ed", ek)), "example.org", "rsa", rk),
			[]Status{StatusPass, StatusPass}, false},
		{"body length tag", []byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa; l=3; h=from; bh=AA==; b=AA==\r\n" + testMsg),
			[]Status{StatusPolicy}, false},
		{"rsa-sha1", []byte("DKIM-Signature: v=1; a=rsa-sha1; d=example.org; s=rsa; h=from; bh=AA==; b=AA==\r\n" + testMsg),
			[]Status{StatusPolicy}, false},
		{"garbage signature", []byte("DKIM-Signature: garbage\r\n" + testMsg), []Status{StatusPermerror}, false},
	}
	v := &Verifier{Resolver: res}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), bytes.NewReader(tt.msg))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(got) != len(tt.wantStatus) {
				t.Fatalf("Verify gave %d results %+v, want %d", len(got), got, len(tt.wantStatus))
			}
			for i, r := range got {
				if r.Status != tt.wantStatus[i] {
					t.Errorf("result %d status = %s (%v), want %s", i, r.Status, r.Err, tt.wantStatus[i])
				}
				if r.Status == StatusPass && r.KeySecure != tt.wantSecure {
					t.Errorf("result %d KeySecure = %v, want %v", i, r.KeySecure, tt.wantSecure)
				}
			}
		})
	}
}

func TestVerifyFields(t *testing.T) {
	rk, _ := testKeys(t)
	v := &Verifier{Resolver: newWorld(t)}
	got, err := v.Verify(context.Background(), bytes.NewReader(sign(t, testMsg, "Example.ORG", "rsa", rk)))
	if err != nil || len(got) != 1 {
		t.Fatalf("Verify = %v, %v", got, err)
	}
	r := got[0]
	if r.Domain != "example.org" || r.Selector != "rsa" || r.Identifier != "@example.org" ||
		r.Algorithm != "rsa-sha256" || len(r.BPrefix) != 8 {
		t.Errorf("result = %+v", r)
	}
}

func TestTooManySignatures(t *testing.T) {
	_, ek := testKeys(t)
	msg := []byte(testMsg)
	for i := 0; i < 3; i++ {
		msg = sign(t, string(msg), "example.org", "ed", ek)
	}
	v := &Verifier{Resolver: newWorld(t), MaxSignatures: 2}
	got, err := v.Verify(context.Background(), bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{StatusPass, StatusPass, StatusNeutral}
	for i, r := range got {
		if r.Status != want[i] {
			t.Errorf("result %d = %s (%v), want %s", i, r.Status, r.Err, want[i])
		}
	}
}

func TestSignOptions(t *testing.T) {
	if _, err := Sign(strings.NewReader(testMsg), SignOptions{Domain: "example.org"}); err == nil {
		t.Error("Sign without key succeeded")
	}
	rk, _ := testKeys(t)
	h, err := Sign(strings.NewReader(testMsg), SignOptions{Domain: "example.org", Selector: "rsa", Key: rk})
	if err != nil {
		t.Fatal(err)
	}
	tags := ParseTags(strings.TrimPrefix(strings.ReplaceAll(h, "\r\n", ""), "DKIM-Signature:"))
	if tags["c"] != "relaxed/relaxed" {
		t.Errorf("c= %q, want relaxed/relaxed", tags["c"])
	}
	if !strings.Contains(strings.ToLower(tags["h"]), "from:from") {
		t.Errorf("h= %q does not over-sign From", tags["h"])
	}
	if _, err := KeyRecord(rk.(*rsa.PrivateKey).PublicKey); err == nil {
		t.Error("KeyRecord accepted a non-pointer key")
	}
}

func BenchmarkDKIMVerify(b *testing.B) {
	rk, ek := testKeys(b)
	body := strings.Repeat("Some ordinary text of a mail body, line after line.\r\n", 80)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		sel  string
	}{{"rsa2048", rk, "rsa"}, {"ed25519", ek, "ed"}} {
		b.Run(tc.name, func(b *testing.B) {
			msg := sign(b, testMsg+body, "example.org", tc.sel, tc.key)
			v := &Verifier{Resolver: newWorld(b)}
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				res, err := v.Verify(context.Background(), bytes.NewReader(msg))
				if err != nil || res[0].Status != StatusPass {
					b.Fatalf("Verify = %v, %v", res, err)
				}
			}
		})
	}
}

// TestLongHeaderLine: a header line longer than the read buffer, ending
// right after it, must not be taken for the end of the header.
func TestLongHeaderLine(t *testing.T) {
	_, ek := testKeys(t)
	for _, n := range []int{4000, 4095 - len("X-Long: "), 4096 - len("X-Long: "), 9000} {
		msg := "X-Long: " + strings.Repeat("a", n) + "\r\n" + testMsg
		signed := sign(t, msg, "example.org", "ed", ek)
		v := &Verifier{Resolver: newWorld(t)}
		res, err := v.Verify(context.Background(), bytes.NewReader(signed))
		if err != nil || len(res) != 1 || res[0].Status != StatusPass {
			t.Errorf("line of %d: Verify = %+v, %v", n, res, err)
		}
		// and a signature after the long line is found too
		moved := append([]byte("X-Long: "+strings.Repeat("a", n)+"\r\n"), sign(t, testMsg, "example.org", "ed", ek)...)
		res, err = v.Verify(context.Background(), bytes.NewReader(moved))
		if err != nil || len(res) != 1 || res[0].Status != StatusPass {
			t.Errorf("line of %d first: Verify = %+v, %v", n, res, err)
		}
	}
}

// TestRFC8463Example verifies the signed example of RFC 8463 Appendix A
// (one Ed25519 and one RSA signature) with its published keys.
func TestRFC8463Example(t *testing.T) {
	msg, err := os.ReadFile("testdata/rfc8463.eml")
	if err != nil {
		t.Fatal(err)
	}
	res := &dnstest.MapResolver{TXT: map[string][]string{
		"brisbane._domainkey.football.example.com": {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
		"test._domainkey.football.example.com": {"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQ" +
			"KBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"},
	}}
	got, err := (&Verifier{Resolver: res}).Verify(context.Background(), bytes.NewReader(msg))
	if err != nil || len(got) != 2 {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	for i, alg := range []string{"ed25519-sha256", "rsa-sha256"} {
		if got[i].Status != StatusPass || got[i].Algorithm != alg || got[i].Domain != "football.example.com" {
			t.Errorf("signature %d = %+v (%v), want %s pass", i, got[i], got[i].Err, alg)
		}
	}
}
