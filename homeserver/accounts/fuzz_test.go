package accounts_test

import (
	"strings"
	"testing"

	"scop/homeserver/accounts"
)

// FuzzLocalpart checks the user ID rules: a localpart that validates gives
// a full ID that maps back to it, and Localpart never accepts another
// server's ID.
func FuzzLocalpart(f *testing.F) {
	s := accounts.New(nil, "example.org", accounts.Options{})
	for _, seed := range []string{"alice", "@alice:example.org", "@alice:other.org", "A", "a:b", "@:example.org", "", "@a", "x/y=z+_-.", "é"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if s.ValidateLocalpart(id) == nil {
			local, ok := s.Localpart(s.UserID(id))
			if !ok || local != id {
				t.Fatalf("valid localpart %q does not round-trip: %q %v", id, local, ok)
			}
		}
		if local, ok := s.Localpart(id); ok {
			if strings.HasPrefix(id, "@") && !strings.HasSuffix(id, ":example.org") {
				t.Fatalf("accepted foreign ID %q as %q", id, local)
			}
			if local == "" {
				t.Fatalf("empty localpart accepted from %q", id)
			}
		}
	})
}
