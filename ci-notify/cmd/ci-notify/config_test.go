package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadConfig reads the README's sample and checks that the environment
// overrides the file and --state overrides both.
func TestLoadConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```yaml\n")
	sample, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README has no yaml sample")
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env{"CI_NOTIFY_TOKEN": "tok", "CI_NOTIFY_USER": "@env:example.org", "CI_NOTIFY_GITHUB_SECRET": "gh"}
	m := &Main{Getenv: e.get}
	cfg, err := m.loadConfig(path, "/tmp/st")
	if err != nil {
		t.Fatalf("README sample: %v", err)
	}
	if cfg.Homeserver != "https://matrix.example.org" || cfg.User != "@env:example.org" || cfg.AccessToken != "tok" ||
		cfg.State != "/tmp/st" || cfg.Webhooks.GitHubSecret != "gh" || cfg.Threads != "branch" ||
		cfg.Users["octocat"] != "@alice:example.org" || cfg.Rooms["team/legacy"] != "#builds:example.org" ||
		cfg.Retention != 720*time.Hour || cfg.Sweep != 30*time.Second || cfg.Webhooks.MaxBody != 1<<20 {
		t.Errorf("config = %+v", cfg)
	}

	bad := []struct{ name, yaml, want string }{
		{"UnknownKey", "homeserver: http://h\nuser: u\npassword: p\ncolour: red\n", "colour"},
		{"BadThreads", "homeserver: http://h\nuser: u\npassword: p\nthreads: always\n", "threads"},
		{"NoLogin", "homeserver: http://h\nuser: u\n", "password"},
		{"NoHomeserver", "user: u\npassword: p\n", "homeserver"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o600)
			_, err := (&Main{Getenv: env{}.get}).loadConfig(p, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadConfig = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestPostUsage: bad command lines fail before any network use.
func TestPostUsage(t *testing.T) {
	e := env{"CI_NOTIFY_HOMESERVER": "http://127.0.0.1:1", "CI_NOTIFY_USER": "u", "CI_NOTIFY_PASSWORD": "p", "CI_NOTIFY_STATE": t.TempDir()}
	tests := []struct {
		name string
		args []string
	}{
		{"NoRepo", []string{"post", "--pipeline", "1", "--status", "success"}},
		{"BadStatus", []string{"post", "--repo", "a/b", "--pipeline", "1", "--status", "great"}},
		{"NoStatus", []string{"post", "--repo", "a/b", "--pipeline", "1", "--job", "x"}},
		{"ExtraArg", []string{"post", "--repo", "a/b", "--pipeline", "1", "--status", "success", "extra"}},
		{"UnknownFlag", []string{"post", "--password", "x"}},
		{"UnknownCommand", []string{"frobnicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := runCmd(t, e, tt.args...); err == nil {
				t.Errorf("%v succeeded", tt.args)
			}
		})
	}
}
