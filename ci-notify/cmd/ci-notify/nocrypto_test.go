//go:build !goolm

package main

import (
	"errors"
	"testing"

	"scop/ci-notify/notifier"
)

// TestEncryptNeedsGoolm: asking for encryption in a build without olm fails
// before anything is sent, rather than posting plaintext.
func TestEncryptNeedsGoolm(t *testing.T) {
	needHomeserver(t)
	e, _ := botEnv(t)
	cfg := writeConfig(t, "encrypt: true\n")
	err := runCmd(t, e, "post", "--config", cfg, "--repo", "sec/x", "--pipeline", "1", "--status", "running")
	if !errors.Is(err, notifier.ErrNoCrypto) {
		t.Fatalf("post with encrypt: true = %v, want ErrNoCrypto", err)
	}
}
