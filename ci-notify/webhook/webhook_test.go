package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	cinotify "scop/ci-notify"
)

// recorder is a Sink that keeps what it receives.
type recorder struct {
	mu      sync.Mutex
	updates []cinotify.Update
}

func (r *recorder) Submit(_ context.Context, u cinotify.Update) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

const (
	ghSecret = "gh-secret"
	glToken  = "gl-token"
	fjSecret = "fj-secret"
	gnSecret = "generic-secret"
)

func newTestHandler(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	h := New(Config{GitHubSecret: ghSecret, GitLabToken: glToken, ForgejoSecret: fjSecret, GenericSecret: gnSecret, MaxBody: 64 << 10},
		rec, slog.New(slog.NewTextHandler(t.Output(), nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, rec
}

func TestHandler(t *testing.T) {
	srv, rec := newTestHandler(t)
	run := readSeed(t, "github_workflow_run_completed.json")
	glPipe := readSeed(t, "gitlab_pipeline.json")
	fjRun := readSeed(t, "forgejo_action_run.json")
	generic := readSeed(t, "generic.json")
	huge := append([]byte(`{"repo":"a/b","pipeline":"1","status":"success","title":"`), bytes.Repeat([]byte("x"), 70<<10)...)
	huge = append(huge, `"}`...)
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		body    []byte
		status  int
		stored  bool
	}{
		{"GitHubOK", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": SignHMACSHA256([]byte(ghSecret), run)}, run, 202, true},
		{"GitHubBadSignature", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": SignHMACSHA256([]byte("wrong"), run)}, run, 401, false},
		{"GitHubNoSignature", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "workflow_run"}, run, 401, false},
		{"GitHubSignatureNotHex", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": "sha256=zz"}, run, 401, false},
		{"GitHubPingIgnored", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": SignHMACSHA256([]byte(ghSecret), []byte(`{"zen":"x"}`))}, []byte(`{"zen":"x"}`), 204, false},
		{"GitHubMalformed", "POST", "/hooks/github", map[string]string{"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": SignHMACSHA256([]byte(ghSecret), []byte(`{"workflow_run":`))}, []byte(`{"workflow_run":`), 400, false},
		{"GitHubGet", "GET", "/hooks/github", nil, nil, 405, false},
		{"GitLabOK", "POST", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Pipeline Hook", "X-Gitlab-Token": glToken}, glPipe, 202, true},
		{"GitLabBadToken", "POST", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Pipeline Hook", "X-Gitlab-Token": glToken + "x"}, glPipe, 401, false},
		{"GitLabMissingFields", "POST", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Pipeline Hook", "X-Gitlab-Token": glToken}, []byte(`{"object_kind":"pipeline"}`), 400, false},
		{"ForgejoOK", "POST", "/hooks/forgejo", map[string]string{"X-Forgejo-Event": "action_run", "X-Forgejo-Signature": strings.TrimPrefix(SignHMACSHA256([]byte(fjSecret), fjRun), "sha256=")}, fjRun, 202, true},
		{"GiteaHeadersOK", "POST", "/hooks/gitea", map[string]string{"X-Gitea-Event": "action_run", "X-Gitea-Signature": strings.TrimPrefix(SignHMACSHA256([]byte(fjSecret), fjRun), "sha256=")}, fjRun, 202, true},
		{"ForgejoBadSignature", "POST", "/hooks/forgejo", map[string]string{"X-Forgejo-Event": "action_run", "X-Forgejo-Signature": strings.Repeat("0", 64)}, fjRun, 401, false},
		{"GenericOK", "POST", "/hooks/generic", map[string]string{"X-Signature-256": SignHMACSHA256([]byte(gnSecret), generic)}, generic, 202, true},
		{"GenericTooLarge", "POST", "/hooks/generic", map[string]string{"X-Signature-256": SignHMACSHA256([]byte(gnSecret), huge)}, huge, 413, false},
		{"GenericBadSignature", "POST", "/hooks/generic", map[string]string{"X-Signature-256": "sha256=00"}, generic, 401, false},
		{"UnknownPath", "POST", "/hooks/jenkins", nil, generic, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.count()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			if got := rec.count() - before; got != map[bool]int{true: 1, false: 0}[tt.stored] {
				t.Errorf("stored %d updates, want stored=%v", got, tt.stored)
			}
		})
	}
}

func TestHandlerDisabledProvider(t *testing.T) {
	h := New(Config{GitHubSecret: ghSecret}, &recorder{}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/hooks/gitlab", strings.NewReader(`{}`)))
	if w.Code != http.StatusNotFound {
		t.Errorf("POST /hooks/gitlab without a token configured = %d, want 404", w.Code)
	}
}
