// Package clientapitest starts a real Client-Server API for tests: the
// accounts service on SQLite in t.TempDir(), the router, and an
// httptest server on 127.0.0.1, plus a small JSON client.
package clientapitest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"scop/clientapi"
	"scop/homeserver/accounts"
	"scop/homeserver/accounts/sqlitestore"
	"scop/homeserver/storage/sqlite"
)

// Options configure NewServer.
type Options struct {
	ServerName string // default "test"
	Accounts   clientapi.AccountOptions
	MaxBody    int64                 // default 64 KiB
	RateLimits map[string][2]float64 // action → {per second, burst}
	Setup      func(s *Server) error // registers more routes (rooms, sync) before serving
	Log        *slog.Logger          // default: discards below error, to t.Log
}

// Server is a running API.
type Server struct {
	URL      string
	API      *clientapi.API
	Accounts *accounts.Service
	DB       *sql.DB // the test's database, for more stores in Setup
	HTTP     *httptest.Server
}

// NewServer starts a server that stops at the end of the test.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.ServerName == "" {
		opts.ServerName = "test"
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 64 << 10
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "homeserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(store, opts.ServerName, accounts.Options{BcryptCost: 4})
	api := clientapi.New(acc, opts.Log, opts.MaxBody)
	for action, r := range opts.RateLimits {
		api.SetRateLimit(action, r[0], int(r[1]))
	}
	api.RegisterAccounts(acc, opts.Accounts)
	s := &Server{API: api, Accounts: acc, DB: db}
	if opts.Setup != nil {
		if err := opts.Setup(s); err != nil {
			t.Fatal(err)
		}
	}
	s.HTTP = httptest.NewServer(api)
	s.URL = s.HTTP.URL
	t.Cleanup(s.HTTP.Close)
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// User is a logged-in test user.
type User struct {
	UserID, DeviceID, Token string
}

// AddUser creates a user with password and logs it in through the API.
func (s *Server) AddUser(t testing.TB, localpart, password string) User {
	t.Helper()
	if _, err := s.Accounts.Register(context.Background(), localpart, password, false); err != nil {
		t.Fatal(err)
	}
	var out struct {
		UserID      string `json:"user_id"`
		DeviceID    string `json:"device_id"`
		AccessToken string `json:"access_token"`
	}
	status := s.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": localpart}, "password": password}, &out)
	if status != 200 {
		t.Fatalf("login %s: status %d", localpart, status)
	}
	return User{UserID: out.UserID, DeviceID: out.DeviceID, Token: out.AccessToken}
}

// Do sends a request with body (JSON-encoded unless it is a string or
// []byte) and the access token when not empty, decodes the JSON answer
// into out when not nil, and returns the status.
func (s *Server) Do(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// AddUser2 logs an existing user in again: a second device.
func (s *Server) AddUser2(t testing.TB, localpart, password string) User {
	t.Helper()
	var out struct {
		UserID      string `json:"user_id"`
		DeviceID    string `json:"device_id"`
		AccessToken string `json:"access_token"`
	}
	if st := s.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
		"user": localpart, "password": password}, &out); st != 200 {
		t.Fatalf("login %s: status %d", localpart, st)
	}
	return User{UserID: out.UserID, DeviceID: out.DeviceID, Token: out.AccessToken}
}

// DoHeader sends a GET-style request with a raw Authorization header.
func (s *Server) DoHeader(t testing.TB, method, path, authorization string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
