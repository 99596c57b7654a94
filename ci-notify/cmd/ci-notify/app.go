package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"scop/ci-notify/notifier"
	"scop/ci-notify/store"
	"scop/ci-notify/webhook"
)

const usage = `usage: ci-notify <command> [flags]

commands:
  post    report a job or pipeline status (for CI scripts)
  serve   receive GitHub, GitLab, Forgejo/Gitea and generic webhooks

common flags: --config FILE (CI_NOTIFY_CONFIG), --state DIR (CI_NOTIFY_STATE)
login: CI_NOTIFY_HOMESERVER, CI_NOTIFY_USER, and CI_NOTIFY_PASSWORD or CI_NOTIFY_TOKEN
`

var errUsage = errors.New("bad usage")

// Config is the YAML configuration file: the notifier's settings at the top
// level, webhook secrets under "webhooks".
type Config struct {
	notifier.Config `yaml:",inline"`
	// Listen is serve's address (default 127.0.0.1:8089).
	Listen   string         `yaml:"listen"`
	Webhooks webhook.Config `yaml:"webhooks"`
	// State is the state directory (default ./ci-notify-state).
	State string `yaml:"state"`
}

// Main runs one command; its fields stand in for the process environment
// so that tests run commands in-process.
type Main struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is called by serve with the bound address.
	Ready func(addr string)
}

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "post":
		return m.post(ctx, args[1:])
	case "serve":
		return m.serve(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprintf(m.Stderr, "unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

// loadConfig reads the config file (if any), then lets the environment
// override it, then the --state flag.
func (m *Main) loadConfig(path, state string) (*Config, error) {
	if path == "" {
		path = m.Getenv("CI_NOTIFY_CONFIG")
	}
	var cfg Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for env, dst := range map[string]*string{
		"CI_NOTIFY_HOMESERVER":     &cfg.Homeserver,
		"CI_NOTIFY_USER":           &cfg.User,
		"CI_NOTIFY_PASSWORD":       &cfg.Password,
		"CI_NOTIFY_TOKEN":          &cfg.AccessToken,
		"CI_NOTIFY_STATE":          &cfg.State,
		"CI_NOTIFY_GITHUB_SECRET":  &cfg.Webhooks.GitHubSecret,
		"CI_NOTIFY_GITLAB_TOKEN":   &cfg.Webhooks.GitLabToken,
		"CI_NOTIFY_FORGEJO_SECRET": &cfg.Webhooks.ForgejoSecret,
		"CI_NOTIFY_GENERIC_SECRET": &cfg.Webhooks.GenericSecret,
	} {
		if v := m.Getenv(env); v != "" {
			*dst = v
		}
	}
	if state != "" {
		cfg.State = state
	}
	if cfg.State == "" {
		cfg.State = "ci-notify-state"
	}
	if err := cfg.Config.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

func (m *Main) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(m.Stderr, nil))
}

// session is what open sets up: the config, the state, the logged-in
// notifier and, with encrypt: true, end-to-end encryption.
type session struct {
	cfg  *Config
	st   *store.Store
	n    *notifier.Notifier
	e2ee *notifier.E2EE
}

func (s *session) Close() {
	if s.e2ee != nil {
		s.e2ee.Close()
	}
	s.st.Close()
}

// open loads the config, opens the state, logs in and, if configured,
// starts encryption.
func (m *Main) open(ctx context.Context, cfgPath, state string) (*session, error) {
	cfg, err := m.loadConfig(cfgPath, state)
	if err != nil {
		return nil, err
	}
	log := m.logger()
	st, err := store.Open(ctx, cfg.State)
	if err != nil {
		return nil, err
	}
	cli, err := notifier.Login(ctx, cfg.Config, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &session{cfg: cfg, st: st}
	if cfg.Encrypt {
		if s.e2ee, err = notifier.EnableCrypto(ctx, cli, cfg.State, log); err != nil {
			st.Close()
			return nil, fmt.Errorf("encrypt: %w", err)
		}
	}
	s.n = notifier.New(cfg.Config, cli, st, log)
	return s, nil
}

func (m *Main) post(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("post", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	cfgPath := fs.String("config", "", "configuration file (CI_NOTIFY_CONFIG)")
	state := fs.String("state", "", "state directory (CI_NOTIFY_STATE)")
	var g webhook.Generic
	var job webhook.GenericJob
	fs.StringVar(&g.Repo, "repo", "", "repository full name, owner/name (required)")
	fs.StringVar(&g.RepoURL, "repo-url", "", "repository web URL")
	fs.StringVar(&g.Pipeline, "pipeline", "", "pipeline ID, unique in the repository (required)")
	fs.StringVar(&g.PipelineName, "pipeline-name", "", "pipeline name shown in the message")
	fs.StringVar(&g.PipelineURL, "pipeline-url", "", "pipeline web URL")
	fs.IntVar(&g.Attempt, "attempt", 0, "re-run number of the pipeline")
	fs.StringVar(&g.Commit, "commit", "", "commit SHA")
	fs.StringVar(&g.CommitURL, "commit-url", "", "commit web URL")
	fs.StringVar(&g.Ref, "ref", "", "branch or tag")
	fs.StringVar(&g.PullRequest, "pr", "", "pull or merge request number")
	fs.StringVar(&g.Author, "author", "", "CI user who caused the pipeline (mentioned on failure if mapped)")
	fs.StringVar(&g.Title, "title", "", "commit title")
	fs.StringVar(&job.Name, "job", "", "job name; without it --status is the pipeline's")
	fs.StringVar(&job.ID, "job-id", "", "job ID (a new ID under the same name is a re-run)")
	fs.StringVar(&job.URL, "url", "", "job log URL")
	status := fs.String("status", "", "queued, running, success, failure, cancelled or skipped (required)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.Stderr, "post: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if job.Name != "" {
		job.Status = *status
		g.Jobs = []webhook.GenericJob{job}
	} else {
		g.Status = *status
	}
	u, err := g.Update()
	if err != nil {
		return err
	}
	u.Provider = "cli"
	s, err := m.open(ctx, *cfgPath, *state)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.n.Submit(ctx, u); err != nil {
		return err
	}
	return flushWaiting(ctx, s.n, store.Key{Repo: u.Repo, Pipeline: u.Pipeline})
}

// flushWaiting posts one pipeline, waiting while another ci-notify process
// sharing the state directory holds it (it will have posted our update too,
// or we post after it).
func flushWaiting(ctx context.Context, n *notifier.Notifier, k store.Key) error {
	wait := 50 * time.Millisecond
	for {
		err := n.Flush(ctx, k)
		if !errors.Is(err, store.ErrLeased) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	cfgPath := fs.String("config", "", "configuration file (CI_NOTIFY_CONFIG)")
	state := fs.String("state", "", "state directory (CI_NOTIFY_STATE)")
	listen := fs.String("listen", "", "webhook listen address (default from config, else 127.0.0.1:8089)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	s, err := m.open(ctx, *cfgPath, *state)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg, n := s.cfg, s.n
	if *listen != "" {
		cfg.Listen = *listen
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8089"
	}
	log := m.logger()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", webhook.New(cfg.Webhooks, n, log))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	if s.e2ee != nil {
		go func() {
			if err := s.e2ee.Run(runCtx); err != nil {
				log.Error("encryption sync stopped", "err", err)
			}
		}()
	}
	log.Info("ci-notify serving webhooks", "addr", ln.Addr().String())
	if m.Ready != nil {
		m.Ready(ln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancel()
		<-done
		return fmt.Errorf("serve: %w", err)
	}
	// Stop taking webhooks first, then stop the workers; a post cut short
	// leaves its pipeline behind, and the next start finishes it.
	shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer shCancel()
	err = srv.Shutdown(shCtx)
	cancel()
	<-done
	return err
}
