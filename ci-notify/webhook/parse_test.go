package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	cinotify "scop/ci-notify"
)

func readSeed(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) (cinotify.Update, error)
		file  string
		want  cinotify.Update
	}{
		{
			name:  "GitHubWorkflowRun",
			parse: func(b []byte) (cinotify.Update, error) { return ParseGitHub("workflow_run", b) },
			file:  "github_workflow_run_completed.json",
			want: cinotify.Update{Provider: "github", Repo: "octo-org/widget", RepoURL: "https://github.com/octo-org/widget",
				Pipeline: "9876543210", PipelineName: "CI #412", PipelineURL: "https://github.com/octo-org/widget/actions/runs/9876543210",
				Attempt: 1, Commit: "4f7c2d1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
				CommitURL: "https://github.com/octo-org/widget/commit/4f7c2d1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
				Ref:       "main", Author: "octocat", Title: "Fix flaky sync test", Status: cinotify.StatusFailure},
		},
		{
			name:  "GitHubWorkflowJobInProgress",
			parse: func(b []byte) (cinotify.Update, error) { return ParseGitHub("workflow_job", b) },
			file:  "github_workflow_job_in_progress.json",
			want: cinotify.Update{Provider: "github", Repo: "octo-org/widget", RepoURL: "https://github.com/octo-org/widget",
				Pipeline: "9876543210", PipelineName: "CI", PipelineURL: "https://github.com/octo-org/widget/actions/runs/9876543210",
				Attempt: 1, Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
				CommitURL: "https://github.com/octo-org/widget/commit/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
				Ref:       "feature/login", Author: "hubot",
				Jobs: []cinotify.Job{{Name: "test (ubuntu-latest, 1.26)", ID: "27182818284", Status: cinotify.StatusRunning,
					URL: "https://github.com/octo-org/widget/actions/runs/9876543210/job/27182818284"}}},
		},
		{
			name:  "GitHubCheckRun",
			parse: func(b []byte) (cinotify.Update, error) { return ParseGitHub("check_run", b) },
			file:  "github_check_run.json",
			want: cinotify.Update{Provider: "github", Repo: "Codertocat/Hello-World", RepoURL: "https://github.com/Codertocat/Hello-World",
				Pipeline: "suite-118578147", PipelineName: "Octocoders Linter", Commit: "d6fde92930d4715a2b49857d24b940956b26d2d3",
				CommitURL: "https://github.com/Codertocat/Hello-World/commit/d6fde92930d4715a2b49857d24b940956b26d2d3",
				Ref:       "changes", PullRequest: "2", Author: "Codertocat",
				Jobs: []cinotify.Job{{Name: "Octocoders-linter", ID: "4", Status: cinotify.StatusSuccess, URL: "https://github.com/Codertocat/Hello-World/runs/4"}}},
		},
		{
			name:  "GitLabPipeline",
			parse: func(b []byte) (cinotify.Update, error) { return ParseGitLab("Pipeline Hook", b) },
			file:  "gitlab_pipeline.json",
			want: cinotify.Update{Provider: "gitlab", Repo: "gitlab-org/gitlab-test", RepoURL: "http://192.168.64.1:3005/gitlab-org/gitlab-test",
				Pipeline: "31", PipelineName: "Pipeline for branch: master #3", PipelineURL: "http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
				Commit:    "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
				CommitURL: "http://example.com/gitlab-org/gitlab-test/commit/bcbb5ec396a2c0f828686f14fac9b80b780504f2",
				Ref:       "master", PullRequest: "1", Author: "root", Title: "test", Status: cinotify.StatusRunning,
				Jobs: []cinotify.Job{
					{Name: "build-image", ID: "376", Status: cinotify.StatusSuccess, URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/376"},
					{Name: "test-image", ID: "377", Status: cinotify.StatusRunning, URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/377"},
					{Name: "production", ID: "380", Status: cinotify.StatusSkipped, URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/380"},
				}},
		},
		{
			name:  "GitLabJob",
			parse: func(b []byte) (cinotify.Update, error) { return ParseGitLab("Job Hook", b) },
			file:  "gitlab_job.json",
			want: cinotify.Update{Provider: "gitlab", Repo: "gitlab-org/gitlab-test", RepoURL: "http://192.168.64.1:3005/gitlab-org/gitlab-test",
				Pipeline: "2366", PipelineURL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/2366",
				Commit:    "2293ada6b400935a1378653304eaf6221e0fdb8f",
				CommitURL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/commit/2293ada6b400935a1378653304eaf6221e0fdb8f",
				Ref:       "gitlab-script-trigger", Author: "user", Title: "test",
				Jobs: []cinotify.Job{{Name: "test", ID: "1977", Status: cinotify.StatusFailure, URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/1977"}}},
		},
		{
			name:  "ForgejoActionRun",
			parse: func(b []byte) (cinotify.Update, error) { return ParseForgejo("action_run", b) },
			file:  "forgejo_action_run.json",
			want: cinotify.Update{Provider: "forgejo", Repo: "forge/app", RepoURL: "https://forge.example.org/forge/app",
				Pipeline: "1042", PipelineName: "test.yml #58", PipelineURL: "https://forge.example.org/forge/app/actions/runs/58",
				Commit:    "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d",
				CommitURL: "https://forge.example.org/forge/app/commit/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d",
				Ref:       "main", Author: "dana", Title: "Bump dependencies", Status: cinotify.StatusFailure},
		},
		{
			name:  "GiteaWorkflowJob",
			parse: func(b []byte) (cinotify.Update, error) { return ParseForgejo("workflow_job", b) },
			file:  "gitea_workflow_job.json",
			want: cinotify.Update{Provider: "forgejo", Repo: "team/site", RepoURL: "https://gitea.example.org/team/site",
				Pipeline: "97", PipelineName: "deploy.yml", PipelineURL: "https://gitea.example.org/team/site/actions/runs/97",
				Attempt: 1, Commit: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
				CommitURL: "https://gitea.example.org/team/site/commit/0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
				Ref:       "main", Author: "erin",
				Jobs: []cinotify.Job{{Name: "build", ID: "311", Status: cinotify.StatusSuccess, URL: "https://gitea.example.org/team/site/actions/runs/97/jobs/0"}}},
		},
		{
			name:  "Generic",
			parse: ParseGeneric,
			file:  "generic.json",
			want: cinotify.Update{Provider: "generic", Repo: "infra/tools", RepoURL: "https://git.example.net/infra/tools",
				Pipeline: "build-20261120-7", PipelineName: "nightly", PipelineURL: "https://ci.example.net/pipelines/7",
				Commit: "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00", Ref: "main", Author: "frank", Title: "Nightly build",
				Status: cinotify.StatusRunning,
				Jobs: []cinotify.Job{
					{Name: "compile", ID: "71", Status: cinotify.StatusSuccess, URL: "https://ci.example.net/jobs/71"},
					{Name: "integration", ID: "72", Status: cinotify.StatusRunning, URL: "https://ci.example.net/jobs/72"},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(readSeed(t, tt.file))
			if err != nil {
				t.Fatalf("parse %s: %v", tt.file, err)
			}
			if !equalUpdate(got, tt.want) {
				t.Errorf("parse %s =\n%+v\nwant\n%+v", tt.file, got, tt.want)
			}
		})
	}
}

func equalUpdate(a, b cinotify.Update) bool {
	return reflect.DeepEqual(a, b)
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name    string
		parse   func() (cinotify.Update, error)
		ignored bool
	}{
		{"GitHubPing", func() (cinotify.Update, error) { return ParseGitHub("ping", readSeed(t, "github_ping.json")) }, true},
		{"GitHubPush", func() (cinotify.Update, error) { return ParseGitHub("push", []byte(`{}`)) }, true},
		{"GitLabPush", func() (cinotify.Update, error) { return ParseGitLab("Push Hook", []byte(`{}`)) }, true},
		{"ForgejoPush", func() (cinotify.Update, error) { return ParseForgejo("push", []byte(`{}`)) }, true},
		{"GitHubMalformed", func() (cinotify.Update, error) { return ParseGitHub("workflow_run", []byte(`{"workflow_run":`)) }, false},
		{"GitHubNoRepo", func() (cinotify.Update, error) {
			return ParseGitHub("workflow_run", []byte(`{"workflow_run":{"id":1,"status":"queued"}}`))
		}, false},
		{"GitHubNoRun", func() (cinotify.Update, error) {
			return ParseGitHub("workflow_run", []byte(`{"repository":{"full_name":"a/b"}}`))
		}, false},
		{"GitHubCompletedNoConclusion", func() (cinotify.Update, error) {
			return ParseGitHub("workflow_job", []byte(`{"repository":{"full_name":"a/b"},"workflow_job":{"id":1,"run_id":2,"name":"x","status":"completed"}}`))
		}, false},
		{"GitHubUnknownStatus", func() (cinotify.Update, error) {
			return ParseGitHub("workflow_job", []byte(`{"repository":{"full_name":"a/b"},"workflow_job":{"id":1,"run_id":2,"name":"x","status":"exploded"}}`))
		}, false},
		{"GitLabNoProject", func() (cinotify.Update, error) {
			return ParseGitLab("Pipeline Hook", []byte(`{"object_attributes":{"id":1,"status":"running"}}`))
		}, false},
		{"GitLabJobNoName", func() (cinotify.Update, error) {
			return ParseGitLab("Job Hook", []byte(`{"build_id":1,"build_status":"running","pipeline_id":3,"project":{"path_with_namespace":"a/b"}}`))
		}, false},
		{"ForgejoNoRun", func() (cinotify.Update, error) {
			return ParseForgejo("action_run", []byte(`{"action":"success","repository":{"full_name":"a/b"}}`))
		}, false},
		{"GenericUnknownField", func() (cinotify.Update, error) {
			return ParseGeneric([]byte(`{"repo":"a/b","pipeline":"1","status":"success","colour":"red"}`))
		}, false},
		{"GenericTrailingData", func() (cinotify.Update, error) {
			return ParseGeneric([]byte(`{"repo":"a/b","pipeline":"1","status":"success"} {}`))
		}, false},
		{"GenericNoStatus", func() (cinotify.Update, error) { return ParseGeneric([]byte(`{"repo":"a/b","pipeline":"1"}`)) }, false},
		{"GenericNotObject", func() (cinotify.Update, error) { return ParseGeneric([]byte(`[1,2]`)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.parse()
			if err == nil {
				t.Fatal("parse succeeded, want an error")
			}
			if got := errors.Is(err, ErrIgnored); got != tt.ignored {
				t.Errorf("errors.Is(%v, ErrIgnored) = %v, want %v", err, got, tt.ignored)
			}
			if !tt.ignored && !errors.Is(err, cinotify.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}
