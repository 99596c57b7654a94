package clientapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"scop/clientapi/clientapitest"
)

// BenchmarkAuthedRequest measures the router's fixed cost on an
// authenticated route: CORS, body limit, token lookup (cached), metrics,
// JSON encoding. No network: the handler is called directly.
func BenchmarkAuthedRequest(b *testing.B) {
	s := clientapitest.NewServer(b, clientapitest.Options{})
	u := s.AddUser(b, "alice", "pw")
	req := httptest.NewRequest("GET", "/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+u.Token)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			s.API.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkLogin measures a password login at bcrypt cost 4 (tests' cost;
// production uses accounts.bcrypt_cost, 10 by default).
func BenchmarkLogin(b *testing.B) {
	s := clientapitest.NewServer(b, clientapitest.Options{})
	s.AddUser(b, "alice", "pw")
	b.ResetTimer()
	for b.Loop() {
		s.AddUser2(b, "alice", "pw")
	}
}
