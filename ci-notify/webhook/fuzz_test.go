package webhook

import (
	"errors"
	"strings"
	"testing"

	cinotify "scop/ci-notify"
)

// checkUpdate asserts what every successful parse must give: a valid
// update, and an error that is either "ignored" or "invalid".
func checkUpdate(t *testing.T, u cinotify.Update, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrIgnored) && !errors.Is(err, cinotify.ErrInvalid) {
			t.Fatalf("error %v is neither ErrIgnored nor ErrInvalid", err)
		}
		return
	}
	if verr := u.Validate(); verr != nil {
		t.Fatalf("parse gave an invalid update: %v", verr)
	}
	var p cinotify.Pipeline
	if !p.Apply(u) {
		t.Fatal("a first valid update did not change an empty pipeline")
	}
	if p.Apply(u) {
		t.Fatal("applying the same update twice changed the pipeline again")
	}
}

func FuzzGitHub(f *testing.F) {
	for _, s := range []struct{ event, file string }{
		{"workflow_run", "github_workflow_run_completed.json"},
		{"workflow_job", "github_workflow_job_in_progress.json"},
		{"workflow_job", "github_workflow_job_completed.json"},
		{"check_run", "github_check_run.json"},
		{"ping", "github_ping.json"},
	} {
		f.Add(s.event, readSeed(f, s.file))
	}
	f.Add("workflow_run", []byte(`{"repository":{"full_name":"a/b"},"workflow_run":{"id":1e3,"status":"completed","conclusion":null}}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		u, err := ParseGitHub(event, body)
		checkUpdate(t, u, err)
	})
}

func FuzzGitLab(f *testing.F) {
	f.Add("Pipeline Hook", readSeed(f, "gitlab_pipeline.json"))
	f.Add("Job Hook", readSeed(f, "gitlab_job.json"))
	f.Add("Push Hook", []byte(`{"object_kind":"push"}`))
	f.Add("Pipeline Hook", []byte(`{"object_attributes":{"id":1,"status":"running"},"project":{"path_with_namespace":"a/b"},"builds":[{"id":2,"name":"","status":"success"}]}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		u, err := ParseGitLab(event, body)
		checkUpdate(t, u, err)
	})
}

func FuzzForgejo(f *testing.F) {
	f.Add("action_run", readSeed(f, "forgejo_action_run.json"))
	f.Add("workflow_job", readSeed(f, "gitea_workflow_job.json"))
	f.Add("action_run", []byte(`{"action":"recover","run":{"id":3,"status":"unknown"},"repository":{"full_name":"a/b"}}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		u, err := ParseForgejo(event, body)
		checkUpdate(t, u, err)
	})
}

func FuzzGeneric(f *testing.F) {
	f.Add(readSeed(f, "generic.json"))
	f.Add([]byte(`{"repo":"a/b","pipeline":"1","jobs":[{"name":"x","status":"failed"}]}`))
	f.Add([]byte(`{"repo":"a/b","pipeline":"1","status":"success","attempt":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := ParseGeneric(body)
		checkUpdate(t, u, err)
	})
}

func FuzzVerifyHMACSHA256(f *testing.F) {
	f.Add([]byte("secret"), []byte(`{"a":1}`), "sha256=00")
	f.Fuzz(func(t *testing.T, secret, body []byte, sig string) {
		if len(secret) == 0 {
			return
		}
		if !VerifyHMACSHA256(secret, body, SignHMACSHA256(secret, body)) {
			t.Fatal("own signature refused")
		}
		want := strings.TrimPrefix(SignHMACSHA256(secret, body), "sha256=")
		if VerifyHMACSHA256(secret, body, sig) && !strings.EqualFold(strings.TrimPrefix(strings.TrimSpace(sig), "sha256="), want) {
			t.Fatalf("signature %q accepted", sig)
		}
	})
}
