package notifier

import (
	"strings"
	"testing"

	cinotify "scop/ci-notify"
)

func TestAliasLocalpart(t *testing.T) {
	tests := []struct{ prefix, repo, want string }{
		{"ci_", "octo-org/Widget", "ci_octo-org_widget"},
		{"ci_", "group/sub group/proj.js", "ci_group_sub_group_proj.js"},
		{"", "a:b@c", "a_b_c"},
	}
	for _, tt := range tests {
		if got := AliasLocalpart(tt.prefix, tt.repo); got != tt.want {
			t.Errorf("AliasLocalpart(%q, %q) = %q, want %q", tt.prefix, tt.repo, got, tt.want)
		}
	}
	long := AliasLocalpart("ci_", strings.Repeat("x", 400))
	if len(long) > 200 || long == AliasLocalpart("ci_", strings.Repeat("x", 401)) {
		t.Errorf("long repository names: %q is too long or not unique", long)
	}
}

func TestThreadKey(t *testing.T) {
	pr := &cinotify.Pipeline{Ref: "feature", PullRequest: "12"}
	branch := &cinotify.Pipeline{Ref: "main"}
	tests := []struct {
		mode string
		p    *cinotify.Pipeline
		want string
	}{
		{"", pr, ""}, {"none", pr, ""},
		{"branch", pr, "branch:feature"}, {"branch", branch, "branch:main"},
		{"pr", pr, "pr:12"}, {"pr", branch, ""},
		{"ref", pr, "pr:12"}, {"ref", branch, "branch:main"},
	}
	for _, tt := range tests {
		if got := threadKey(tt.mode, tt.p); got != tt.want {
			t.Errorf("threadKey(%q, %+v) = %q, want %q", tt.mode, tt.p, got, tt.want)
		}
	}
}
