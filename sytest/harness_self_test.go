package sytest

import (
	"strings"
	"testing"
)

// These test the harness itself; they do not touch the server.

func TestHarnessParseExpected(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		bad      bool
	}{
		{"empty", "", map[string]string{}, false},
		{"comments", "# c\n\n  # d\n", map[string]string{}, false},
		{"entry", "TestA/B some reason here\n", map[string]string{"TestA/B": "some reason here"}, false},
		{"no reason", "TestA/B", map[string]string{"TestA/B": ""}, false},
		{"not a test", "Foo/B reason", nil, true},
		{"no subtest", "TestA reason", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExpected(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want error %v", err, tc.bad)
			}
			if tc.bad {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestHarnessAutoReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`x_test.go:12: want 200: POST /_matrix/client/v3/rooms/%21abc%3Ahs/receipt/m.read/%24ev → 404 {"errcode":"M_UNRECOGNIZED"}`,
			"POST /_matrix/client/v3/rooms/{id}/receipt/m.read/{id} not served (M_UNRECOGNIZED)"},
		{"x_test.go:3: sync shows a message", "sync shows a message"},
		{"plain", "plain"},
	} {
		if got := autoReason(tc.in); got != tc.want {
			t.Errorf("autoReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHarnessEscapeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"@u:hs":    "%40u%3Ahs",
		"!r:hs":    "!r%3Ahs",
		"$e/x":     "%24e%2Fx",
		"a-b_c.~'": "a-b_c.~'",
		"é":        "%C3%A9",
	} {
		if got := escapeSegment(in); got != want {
			t.Errorf("escapeSegment(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseExpected: the list parser never panics, and every accepted
// entry names a subtest.
func FuzzParseExpected(f *testing.F) {
	f.Add("TestA/B reason\n# comment\n")
	f.Add("TestSync/X  two  spaces\r\n")
	f.Add("\x00Test/")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseExpected(in)
		if err != nil {
			return
		}
		for name := range m {
			if !strings.HasPrefix(name, "Test") || !strings.Contains(name, "/") {
				t.Fatalf("accepted bad name %q", name)
			}
		}
	})
}
