//go:build goolm

package notifier

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestPickleKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := pickleKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("pickleKey = %x, %v; want 32 bytes", k1, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "crypto.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("crypto.key mode %v, %v; want 0600", fi.Mode(), err)
	}
	k2, err := pickleKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("second pickleKey = %x, %v; want the stored %x", k2, err, k1)
	}
	os.WriteFile(filepath.Join(dir, "crypto.key"), []byte("short\n"), 0o600)
	if _, err := pickleKey(dir); err == nil {
		t.Error("a malformed key file was accepted")
	}
}
