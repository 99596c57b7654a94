package rooms

import "testing"

// FuzzHierarchyToken feeds arbitrary from tokens to the hierarchy token
// parser: no panic, offsets within bounds, and every token it accepts is
// exactly the one hierarchyToken issues for the same parameters.
func FuzzHierarchyToken(f *testing.F) {
	const root = "!space:test"
	for _, seed := range []string{
		hierarchyToken(1, root, false, 20), hierarchyToken(0, root, true, 3), "", "h", "h1_0_20",
		"h-1_0_20_x", "h99999999999999999999_0_20_x", "x1_0_20_abc", "h1_0_20_abc_extra",
	} {
		f.Add(seed, false, 20)
	}
	f.Fuzz(func(t *testing.T, tok string, suggested bool, depth int) {
		n, err := parseHierarchyToken(tok, root, suggested, depth)
		if err != nil {
			return
		}
		if n < 0 || n > hierarchyRooms {
			t.Fatalf("offset %d out of bounds from %q", n, tok)
		}
		if again := hierarchyToken(n, root, suggested, depth); again != tok {
			t.Fatalf("accepted %q, which encodes as %q", tok, again)
		}
	})
}

func TestHierarchyTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		offset    int
		suggested bool
		depth     int
	}{{1, false, 20}, {7, true, 0}, {hierarchyRooms, false, 5}} {
		tok := hierarchyToken(tc.offset, "!r:test", tc.suggested, tc.depth)
		n, err := parseHierarchyToken(tok, "!r:test", tc.suggested, tc.depth)
		if err != nil || n != tc.offset {
			t.Errorf("%q: got %d, %v", tok, n, err)
		}
		if _, err := parseHierarchyToken(tok, "!other:test", tc.suggested, tc.depth); err == nil {
			t.Errorf("%q accepted for another root", tok)
		}
		if _, err := parseHierarchyToken(tok, "!r:test", !tc.suggested, tc.depth); err == nil {
			t.Errorf("%q accepted with suggested_only changed", tok)
		}
	}
}

func TestValidOrder(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"a", true}, {"", false}, {" ~", true}, {"\x7f", false}, {"é", false},
		{"01234567890123456789012345678901234567890123456789", true},
		{"012345678901234567890123456789012345678901234567890", false}} {
		if got := validOrder(tc.in); got != tc.want {
			t.Errorf("validOrder(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
