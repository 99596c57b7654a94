package clientapi_test

import (
	"testing"

	"scop/clientapi/clientapitest"
)

func TestUserDirectory(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	s.AddUser(t, "bobby_tables", "pw")
	s.AddUser(t, "percent", "pw")
	s.Do(t, "PUT", "/_matrix/client/v3/profile/@bob:test/displayname", b.Token, map[string]any{"displayname": "Robert Zimmerman"}, nil)
	type result struct {
		Results []struct {
			UserID      string `json:"user_id"`
			DisplayName string `json:"display_name"`
		} `json:"results"`
		Limited *bool `json:"limited"`
	}
	search := func(body any) result {
		var r result
		if st := s.Do(t, "POST", "/_matrix/client/v3/user_directory/search", a.Token, body, &r); st != 200 || r.Limited == nil {
			t.Fatalf("search %v: %d %+v", body, st, r)
		}
		return r
	}
	if r := search(map[string]any{"search_term": "zimmer"}); len(r.Results) != 1 || r.Results[0].UserID != "@bob:test" || r.Results[0].DisplayName != "Robert Zimmerman" {
		t.Fatalf("by display name: %+v", r)
	}
	if r := search(map[string]any{"search_term": "BOB"}); len(r.Results) != 2 || *r.Limited {
		t.Fatalf("by localpart: %+v", r)
	}
	if r := search(map[string]any{"search_term": "bob", "limit": 1}); len(r.Results) != 1 || !*r.Limited {
		t.Fatalf("limited: %+v", r)
	}
	if r := search(map[string]any{"search_term": "@bob:test"}); len(r.Results) != 2 {
		t.Fatalf("by full ID: %+v", r)
	}
	// LIKE wildcards in the term match themselves only.
	if r := search(map[string]any{"search_term": "%"}); len(r.Results) != 0 {
		t.Fatalf("%% matched: %+v", r)
	}
	if r := search(map[string]any{"search_term": "_t"}); len(r.Results) != 1 || r.Results[0].UserID != "@bobby_tables:test" {
		t.Fatalf("_ matched: %+v", r)
	}
	for _, tc := range []struct {
		name string
		body any
		code string
	}{
		{"no term", map[string]any{}, "M_MISSING_PARAM"},
		{"negative limit", map[string]any{"search_term": "a", "limit": -1}, "M_INVALID_PARAM"},
		{"term not a string", map[string]any{"search_term": 5}, "M_BAD_JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, "POST", "/_matrix/client/v3/user_directory/search", a.Token, tc.body, &e); st != 400 || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v", st, e)
			}
		})
	}
}
