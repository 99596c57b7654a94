package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool returns the path of an outside program, skipping the test when
// it is absent, unless CI=true where its absence is a failure.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (Debian package %s) and CI=true", name, pkg)
		}
		t.Skipf("%s not found (Debian package %s)", name, pkg)
	}
	return p
}

// TestInteropDkimpySigns has dkimpy's dkimsign (python3-dkim) sign a
// message with our generated keys, in each canonicalization and
// algorithm, and checks that we verify the result.
func TestInteropDkimpySigns(t *testing.T) {
	dkimsign := needTool(t, "dkimsign", "python3-dkim")
	rk, ek := testKeys(t)
	dir := t.TempDir()
	rsaFile := filepath.Join(dir, "rsa.pem")
	der := x509.MarshalPKCS1PrivateKey(rk.(*rsa.PrivateKey))
	if err := os.WriteFile(rsaFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	edFile := filepath.Join(dir, "ed.key")
	seed := ek.(ed25519.PrivateKey).Seed()
	if err := os.WriteFile(edFile, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Resolver: newWorld(t)}
	for _, tc := range []struct {
		name, key, sel, alg, canon string
	}{
		{"rsa relaxed/simple", rsaFile, "rsa", "rsa-sha256", "simple"},
		{"rsa relaxed/relaxed", rsaFile, "rsa", "rsa-sha256", "relaxed"},
		{"ed25519 relaxed/relaxed", edFile, "ed", "ed25519-sha256", "relaxed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(dkimsign, "--signalg", tc.alg, "--bcanon", tc.canon, tc.sel, "example.org", tc.key)
			cmd.Stdin = strings.NewReader(testMsg)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dkimsign: %v: %s", err, stderr.String())
			}
			if !bytes.Contains(out, []byte("DKIM-Signature:")) {
				t.Fatalf("dkimsign gave no signature:\n%s", out)
			}
			res, err := v.Verify(context.Background(), bytes.NewReader(out))
			if err != nil || len(res) != 1 || res[0].Status != StatusPass {
				t.Fatalf("Verify(dkimpy-signed) = %+v, %v\n%s", res, err, out)
			}
			// and a change made in transit breaks it
			bad := bytes.Replace(out, []byte("this is a test"), []byte("this is a hoax"), 1)
			if res, _ := v.Verify(context.Background(), bytes.NewReader(bad)); len(res) != 1 || res[0].Status != StatusFail {
				t.Errorf("Verify(tampered) = %+v, want fail", res)
			}
		})
	}
}

// dkimpyVerify is a small dkimpy program that verifies stdin with the key
// record given as argument instead of DNS.
const dkimpyVerify = `
import sys, dkim
rec = sys.argv[1].encode()
msg = sys.stdin.buffer.read()
ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)
print("pass" if ok else "fail")
`

// dkimpyPython returns the interpreter dkimsign runs under (from its #!
// line): a python3 earlier in PATH may not see Debian's dkim module.
func dkimpyPython(t *testing.T, dkimsign string) string {
	t.Helper()
	b, err := os.ReadFile(dkimsign)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if f := strings.Fields(strings.TrimPrefix(line, "#!")); strings.HasPrefix(line, "#!") && len(f) > 0 {
		return f[0]
	}
	return "/usr/bin/python3"
}

// TestInteropDkimpyVerifies checks the other direction: dkimpy verifies
// what Sign produces, with both key types.
func TestInteropDkimpyVerifies(t *testing.T) {
	dkimsign := needTool(t, "dkimsign", "python3-dkim")
	python := dkimpyPython(t, dkimsign)
	rk, ek := testKeys(t)
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
	}{{"rsa", rk}, {"ed25519", ek}} {
		t.Run(tc.name, func(t *testing.T) {
			signer := tc.signer
			rec, err := KeyRecord(signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			signed := sign(t, testMsg, "example.org", "sel", signer)
			cmd := exec.Command(python, "-c", dkimpyVerify, rec)
			cmd.Stdin = bytes.NewReader(signed)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dkimpy: %v: %s", err, stderr.String())
			}
			if got := strings.TrimSpace(string(out)); got != "pass" {
				t.Fatalf("dkimpy verify = %q\n%s", got, signed)
			}
		})
	}
}
