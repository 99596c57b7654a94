package clientapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

func TestRouter(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Setup: func(s *clientapitest.Server) error {
		s.API.Handle("GET /test/panic", clientapi.Public, func(r *http.Request) (any, error) { panic("boom") })
		s.API.Handle("POST /test/echo", clientapi.Public, func(r *http.Request) (any, error) {
			var v map[string]any
			if err := clientapi.DecodeJSON(r, &v); err != nil {
				return nil, err
			}
			return clientapi.Response{Status: 201, Body: v}, nil
		})
		return nil
	}})
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown path", "GET", "/_matrix/client/v3/nope", nil, 404, "M_UNRECOGNIZED"},
		{"outside the API", "GET", "/index.html", nil, 404, "M_UNRECOGNIZED"},
		{"unknown voip", "GET", "/_matrix/client/v3/voip/turnServer", nil, 404, "M_UNRECOGNIZED"},
		{"wrong method", "DELETE", "/_matrix/client/versions", nil, 405, "M_UNRECOGNIZED"},
		{"panic", "GET", "/_matrix/client/v3/test/panic", nil, 500, "M_UNKNOWN"},
		{"custom status", "POST", "/_matrix/client/v3/test/echo", map[string]any{"a": 1}, 201, ""},
		{"too large", "POST", "/_matrix/client/v3/test/echo", `{"a":"` + strings.Repeat("x", 65<<10) + `"}`, 413, "M_TOO_LARGE"},
		{"not JSON", "POST", "/_matrix/client/v3/test/echo", `{"a":`, 400, "M_NOT_JSON"},
		{"null body", "POST", "/_matrix/client/v3/test/echo", ` null `, 400, "M_BAD_JSON"},
		{"array body", "POST", "/_matrix/client/v3/test/echo", `[{}]`, 400, "M_BAD_JSON"},
		{"string body", "POST", "/_matrix/client/v3/test/echo", `"x"`, 400, "M_BAD_JSON"},
		{"empty body", "POST", "/_matrix/client/v3/test/echo", ``, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, tc.method, tc.path, "", tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	for _, tc := range []struct{ method, path string }{
		{"OPTIONS", "/_matrix/client/v3/login"},
		{"OPTIONS", "/_matrix/client/v3/anything/at/all"},
		{"GET", "/_matrix/client/versions"},
		{"GET", "/_matrix/client/v3/nope"},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") {
			t.Errorf("%s %s: CORS headers %v", tc.method, tc.path, h)
		}
		if tc.method == "OPTIONS" && resp.StatusCode != 200 {
			t.Errorf("%s %s: status %d", tc.method, tc.path, resp.StatusCode)
		}
	}
}

func TestRateLimit(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{RateLimits: map[string][2]float64{"login": {0.001, 2}}})
	s.Accounts.Register(t.Context(), "alice", "pw", false)
	for i := range 2 {
		if st := s.Do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "pw"), nil); st != 200 {
			t.Fatalf("login %d: %d", i, st)
		}
	}
	var e mxErr
	if st := s.Do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "pw"), &e); st != 429 || e.ErrCode != "M_LIMIT_EXCEEDED" || e.RetryAfterMS <= 0 {
		t.Fatalf("third login: %d %+v", st, e)
	}
	// Other actions are not limited.
	if st := s.Do(t, "GET", "/_matrix/client/v3/login", "", nil, nil); st != 200 {
		t.Fatalf("GET /login: %d", st)
	}
}

func TestRateLimitPerUser(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{RateLimits: map[string][2]float64{"send": {0.001, 1}},
		Setup: func(s *clientapitest.Server) error {
			s.API.Handle("POST /test/send", clientapi.Authed, func(r *http.Request) (any, error) { return struct{}{}, nil }, clientapi.RateLimit("send"))
			return nil
		}})
	a := s.AddUser(t, "alice", "pw")
	b := s.AddUser(t, "bob", "pw")
	if st := s.Do(t, "POST", "/_matrix/client/v3/test/send", a.Token, nil, nil); st != 200 {
		t.Fatalf("alice first: %d", st)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/test/send", a.Token, nil, nil); st != 429 {
		t.Fatalf("alice second: %d", st)
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/test/send", b.Token, nil, nil); st != 200 {
		t.Fatalf("bob first (own budget): %d", st)
	}
}

func TestMetrics(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{})
	reg := prometheus.NewRegistry()
	if err := s.API.Metrics().Register(reg); err != nil {
		t.Fatal(err)
	}
	s.Do(t, "GET", "/_matrix/client/versions", "", nil, nil)
	s.Do(t, "GET", "/_matrix/client/v3/profile/@x:test", "", nil, nil)
	s.Do(t, "GET", "/nope", "", nil, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "scop_clientapi_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var route, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			seen[route+" "+code] = true
		}
	}
	for _, want := range []string{"GET /_matrix/client/versions 200", "GET /profile/{userID} 404", "unmatched 404"} {
		if !seen[want] {
			t.Errorf("no requests_total for %q; have %v", want, seen)
		}
	}
}
