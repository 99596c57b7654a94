// Package webhook receives CI webhooks over HTTP, verifies them, and turns
// them into [cinotify.Update]s for a [Sink].
//
// Routes (all POST):
//
//	/hooks/github    X-GitHub-Event: workflow_run, workflow_job, check_run;
//	                 X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body)
//	/hooks/gitlab    X-Gitlab-Event: Pipeline Hook, Job Hook;
//	                 X-Gitlab-Token: the secret token (constant-time compare)
//	/hooks/forgejo   X-Forgejo-Event or X-Gitea-Event: action_run, workflow_run,
//	                 workflow_job; X-Forgejo-Signature or X-Gitea-Signature:
//	                 hex HMAC-SHA256(secret, body) (/hooks/gitea is the same)
//	/hooks/generic   ci-notify's JSON format; X-Signature-256 as GitHub's
//
// Answers: 202 when the update is stored (committed to the state database;
// posting to Matrix follows asynchronously), 204 for an event type that is
// not about CI (logged and ignored), 400 for malformed or incomplete JSON,
// 401 for a missing or bad signature, 404 for a provider without a
// configured secret, 405 for a method other than POST, 413 for a body over
// the limit, 500 when the update could not be stored. Anything but 202
// changes nothing.
package webhook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	cinotify "scop/ci-notify"
)

// ErrIgnored is wrapped by parse errors for event types ci-notify does not
// act on (a GitHub ping, a GitLab push hook): answered 204, not an error.
var ErrIgnored = errors.New("webhook: event type ignored")

// DefaultMaxBody is the body size limit when Config.MaxBody is zero. The
// largest CI payloads (GitLab pipelines with many builds) stay well under it.
const DefaultMaxBody = 1 << 20

// Sink receives verified, parsed updates. Submit must return only once the
// update is durably stored, because the webhook's 202 promises that.
type Sink interface {
	Submit(ctx context.Context, u cinotify.Update) error
}

// Config holds one secret per provider; a provider whose secret is empty is
// disabled (404), because an unverified endpoint would let anyone post.
type Config struct {
	GitHubSecret  string `yaml:"github_secret"`
	GitLabToken   string `yaml:"gitlab_token"`
	ForgejoSecret string `yaml:"forgejo_secret"`
	GenericSecret string `yaml:"generic_secret"`
	// MaxBody is the largest accepted body in bytes; 0 means DefaultMaxBody.
	MaxBody int64 `yaml:"max_body"`
}

// Handler is the webhook http.Handler. Create it with New.
type Handler struct {
	cfg  Config
	sink Sink
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns a Handler that verifies with cfg's secrets and submits to sink.
func New(cfg Config, sink Sink, log *slog.Logger) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	h := &Handler{cfg: cfg, sink: sink, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("/hooks/github", h.github)
	h.mux.HandleFunc("/hooks/gitlab", h.gitlab)
	h.mux.HandleFunc("/hooks/forgejo", h.forgejo)
	h.mux.HandleFunc("/hooks/gitea", h.forgejo)
	h.mux.HandleFunc("/hooks/generic", h.generic)
	return h
}

// ServeHTTP routes to the provider handlers, recovering a panic into a 500
// so that one bad request cannot take the server down.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("webhook panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			reply(w, http.StatusInternalServerError, "internal error")
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// body reads the request body under the size limit, answering the error
// itself; ok is false when the caller must stop.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, enabled bool) (b []byte, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "POST only")
		return nil, false
	}
	if !enabled {
		reply(w, http.StatusNotFound, "provider not configured")
		return nil, false
	}
	if r.ContentLength > h.cfg.MaxBody {
		reply(w, http.StatusRequestEntityTooLarge, "body too large")
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			reply(w, http.StatusBadRequest, "cannot read body")
		}
		return nil, false
	}
	return b, true
}

func (h *Handler) github(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r, h.cfg.GitHubSecret != "")
	if !ok {
		return
	}
	if !VerifyHMACSHA256([]byte(h.cfg.GitHubSecret), body, r.Header.Get("X-Hub-Signature-256")) {
		h.refuse(w, r, "github")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	u, err := ParseGitHub(event, body)
	h.finish(w, r, "github", event, u, err)
}

func (h *Handler) gitlab(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r, h.cfg.GitLabToken != "")
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Gitlab-Token")), []byte(h.cfg.GitLabToken)) != 1 {
		h.refuse(w, r, "gitlab")
		return
	}
	event := r.Header.Get("X-Gitlab-Event")
	u, err := ParseGitLab(event, body)
	h.finish(w, r, "gitlab", event, u, err)
}

func (h *Handler) forgejo(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r, h.cfg.ForgejoSecret != "")
	if !ok {
		return
	}
	sig := r.Header.Get("X-Forgejo-Signature")
	if sig == "" {
		sig = r.Header.Get("X-Gitea-Signature")
	}
	if !VerifyHMACSHA256([]byte(h.cfg.ForgejoSecret), body, sig) {
		h.refuse(w, r, "forgejo")
		return
	}
	event := r.Header.Get("X-Forgejo-Event")
	if event == "" {
		event = r.Header.Get("X-Gitea-Event")
	}
	u, err := ParseForgejo(event, body)
	h.finish(w, r, "forgejo", event, u, err)
}

func (h *Handler) generic(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r, h.cfg.GenericSecret != "")
	if !ok {
		return
	}
	if !VerifyHMACSHA256([]byte(h.cfg.GenericSecret), body, r.Header.Get("X-Signature-256")) {
		h.refuse(w, r, "generic")
		return
	}
	u, err := ParseGeneric(body)
	h.finish(w, r, "generic", "generic", u, err)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, provider string) {
	h.log.Warn("webhook signature refused", "provider", provider, "remote_ip", r.RemoteAddr)
	reply(w, http.StatusUnauthorized, "bad or missing signature")
}

func (h *Handler) finish(w http.ResponseWriter, r *http.Request, provider, event string, u cinotify.Update, err error) {
	switch {
	case errors.Is(err, ErrIgnored):
		h.log.Info("webhook event ignored", "provider", provider, "event", event)
		w.WriteHeader(http.StatusNoContent)
		return
	case err != nil:
		h.log.Info("webhook refused", "provider", provider, "event", event, "err", err)
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.sink.Submit(r.Context(), u); err != nil {
		if errors.Is(err, cinotify.ErrInvalid) {
			reply(w, http.StatusBadRequest, err.Error())
			return
		}
		h.log.Error("webhook store", "provider", provider, "repo", u.Repo, "pipeline", u.Pipeline, "err", err)
		reply(w, http.StatusInternalServerError, "could not store the update")
		return
	}
	h.log.Debug("webhook accepted", "provider", provider, "event", event, "repo", u.Repo, "pipeline", u.Pipeline)
	reply(w, http.StatusAccepted, "queued")
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	key := "error"
	if status < 300 {
		key = "result"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{key: strings.TrimSpace(msg)})
}
