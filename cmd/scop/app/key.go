package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// loadOrCreateKey reads the server's signing key from path, in the
// one-line form "ed25519 <version> <unpadded base64 seed>", creating a new
// key there when the file does not exist.
func loadOrCreateKey(path string) (string, ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		v := make([]byte, 4)
		rand.Read(v)
		version := "a_" + base64.RawURLEncoding.EncodeToString(v)[:4]
		line := "ed25519 " + version + " " + base64.RawStdEncoding.EncodeToString(seed) + "\n"
		if err := writeFileAtomic(path, []byte(line), 0o600); err != nil {
			return "", nil, fmt.Errorf("write signing key: %w", err)
		}
		data = []byte(line)
	} else if err != nil {
		return "", nil, fmt.Errorf("read signing key: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) != 3 || f[0] != "ed25519" {
		return "", nil, fmt.Errorf("signing key %s: want \"ed25519 <version> <base64 seed>\"", path)
	}
	seed, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(f[2], "="))
	if err != nil || len(seed) != ed25519.SeedSize {
		return "", nil, fmt.Errorf("signing key %s: bad seed", path)
	}
	return "ed25519:" + f[1], ed25519.NewKeyFromSeed(seed), nil
}
