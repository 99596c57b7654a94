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

// FuzzParseAppService: a registration that parses has compiled regexes
// that never panic on an ID.
func FuzzParseAppService(f *testing.F) {
	f.Add("id: a\nas_token: 0123456789abcdefX\nhs_token: 0123456789abcdefY\nsender_localpart: bot\nnamespaces:\n  users:\n    - {exclusive: true, regex: '@x_.*:h'}\n")
	f.Add("id: a\nas_token: short\n")
	f.Add("namespaces: {users: [{regex: '('}]}\n")
	f.Add("- 1\n- 2\n")
	f.Fuzz(func(t *testing.T, data string) {
		as, err := accounts.ParseAppService([]byte(data))
		if err != nil {
			return
		}
		as.UserInNamespace("@x_1:h", "h")
		if !as.UserInNamespace("@"+as.SenderLocalpart+":h", "h") {
			t.Fatal("sender not in its own namespace")
		}
	})
}
