package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scopBin is the binary built once for the tests.
var scopBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scop-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scopBin = filepath.Join(dir, "scop")
	if out, err := exec.Command("go", "build", "-o", scopBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build scop: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `scop serve`.
type server struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	addrs  struct{ Client, Metrics string }
	done   chan error
}

// startServe runs `scop serve --data dir --listen 127.0.0.1:0` and waits
// for listen.json.
func startServe(t *testing.T, dir string) *server {
	t.Helper()
	s := &server{stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(scopBin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		t.Logf("server log:\n%s", s.stderr)
	})
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(filepath.Join(dir, "listen.json"))
		if err == nil {
			if err := json.Unmarshal(data, &s.addrs); err != nil {
				t.Fatalf("listen.json %q: %v", data, err)
			}
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("scop serve exited: %v\n%s", err, s.stderr)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listen.json after 30s\n%s", s.stderr)
		}
	}
}

func httpJSON(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, url, rd)
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

func TestServeAndShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, dir)
	for _, f := range []string{"scop.yaml", "signing.key", "homeserver.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("first run did not create %s: %v", f, err)
		}
	}
	var v struct{ Versions []string }
	if st := httpJSON(t, "GET", "http://"+s.addrs.Client+"/_matrix/client/versions", nil, &v); st != 200 || len(v.Versions) == 0 {
		t.Fatalf("versions: %d %+v", st, v)
	}
	resp, err := http.Get("http://" + s.addrs.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `scop_clientapi_requests_total{code="200",route="GET /_matrix/client/versions"} 1`) {
		t.Errorf("metrics lack the versions request:\n%s", body)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "listen.json")); err == nil {
		t.Error("listen.json left after shutdown")
	}
}

func runScop(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(scopBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestUserAddThenLogin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// A minimal config, as the conformance suite writes: the rest defaults.
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "scop.yaml"), []byte("server_name: example.test\naccounts:\n  bcrypt_cost: 4\n"), 0o600)
	s := startServe(t, dir)
	// The server is running: user add works beside it.
	out, err := runScop(t, "s3cret pass\n", "user", "add", "alice", "--data", dir)
	if err != nil || strings.TrimSpace(out) != "@alice:example.test" {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	if out, err := runScop(t, "x\n", "user", "add", "--admin", "--data", dir, "alice"); err == nil || !strings.Contains(out, "M_USER_IN_USE") {
		t.Fatalf("duplicate user add: %v\n%s", err, out)
	}
	if out, err := runScop(t, "x\n", "user", "add", "Bad Name", "--data", dir); err == nil || !strings.Contains(out, "M_INVALID_USERNAME") {
		t.Fatalf("bad name: %v\n%s", err, out)
	}
	var login struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	url := "http://" + s.addrs.Client + "/_matrix/client/v3/login"
	if st := httpJSON(t, "POST", url, map[string]any{"type": "m.login.password", "user": "alice", "password": "s3cret pass"}, &login); st != 200 ||
		login.UserID != "@alice:example.test" || login.AccessToken == "" {
		t.Fatalf("login: %d %+v", st, login)
	}
	if st := httpJSON(t, "POST", url, map[string]any{"type": "m.login.password", "user": "alice", "password": "s3cret"}, nil); st != 403 {
		t.Fatalf("wrong password: %d", st)
	}
}

func TestBadConfigNamesKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "scop.yaml"), []byte("client_api:\n  registration:\n    enabled: sometimes\n"), 0o600)
	out, err := runScop(t, "", "serve", "--data", dir, "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(out, "client_api.registration.enabled") {
		t.Fatalf("serve with bad config: %v\n%s", err, out)
	}
	out, err = runScop(t, "", "serve", "--data", t.TempDir(), "--listen", "nowhere")
	if err == nil || !strings.Contains(out, "client_api.listen") {
		t.Fatalf("serve with bad --listen: %v\n%s", err, out)
	}
	out, err = runScop(t, "", "user", "remove", "x")
	if err == nil || !strings.Contains(out, "usage") {
		t.Fatalf("user remove: %v\n%s", err, out)
	}
}

// A parked /sync must not hold up shutdown: SIGTERM makes it return and
// the process exit well before the poll's timeout.
func TestShutdownWithParkedSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "scop.yaml"), []byte("accounts:\n  bcrypt_cost: 4\n"), 0o600)
	if out, err := runScop(t, "pw\n", "user", "add", "alice", "--data", dir); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	s := startServe(t, dir)
	base := "http://" + s.addrs.Client + "/_matrix/client/v3"
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if st := httpJSON(t, "POST", base+"/login", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw"}, &login); st != 200 {
		t.Fatalf("login: %d", st)
	}
	var first struct {
		NextBatch string `json:"next_batch"`
	}
	if st := httpJSON(t, "GET", base+"/sync?timeout=0&access_token="+login.AccessToken, nil, &first); st != 200 || first.NextBatch == "" {
		t.Fatalf("initial sync: %d %+v", st, first)
	}
	type result struct {
		status int
		err    error
	}
	polled := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/sync?timeout=60000&since=" + first.NextBatch + "&access_token=" + login.AccessToken)
		if err != nil {
			polled <- result{err: err}
			return
		}
		resp.Body.Close()
		polled <- result{status: resp.StatusCode}
	}()
	// Wait until the server counts the poll as in flight.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + s.addrs.Metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "scop_clientapi_requests_in_flight 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll never in flight:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit 15s after SIGTERM with a parked sync")
	}
	r := <-polled
	if r.err != nil || r.status != 200 {
		t.Fatalf("parked sync ended with %d %v", r.status, r.err)
	}
	t.Logf("shutdown took %v", time.Since(start))
}

func TestUserPasswd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "scop.yaml"), []byte("accounts:\n  bcrypt_cost: 4\n"), 0o600)
	if out, err := runScop(t, "old\n", "user", "add", "alice", "--data", dir); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	s := startServe(t, dir)
	if out, err := runScop(t, "new\n", "user", "passwd", "alice", "--data", dir); err != nil || strings.TrimSpace(out) != "@alice:localhost" {
		t.Fatalf("user passwd: %v\n%s", err, out)
	}
	if out, err := runScop(t, "x\n", "user", "passwd", "nobody", "--data", dir); err == nil || !strings.Contains(out, "M_NOT_FOUND") {
		t.Fatalf("passwd of unknown user: %v\n%s", err, out)
	}
	url := "http://" + s.addrs.Client + "/_matrix/client/v3/login"
	if st := httpJSON(t, "POST", url, map[string]any{"type": "m.login.password", "user": "alice", "password": "old"}, nil); st != 403 {
		t.Fatalf("old password: %d", st)
	}
	if st := httpJSON(t, "POST", url, map[string]any{"type": "m.login.password", "user": "alice", "password": "new"}, nil); st != 200 {
		t.Fatalf("new password: %d", st)
	}
}
