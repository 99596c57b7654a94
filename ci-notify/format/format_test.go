package format

import (
	"strings"
	"testing"

	cinotify "scop/ci-notify"
)

func TestRender(t *testing.T) {
	p := &cinotify.Pipeline{
		Repo: "octo/widget", RepoURL: "https://github.com/octo/widget", ID: "7", Name: "CI #7",
		URL: "https://github.com/octo/widget/actions/runs/7", Commit: "4f7c2d1e9a8b7c6d", CommitURL: "https://github.com/octo/widget/commit/4f7c2d1e9a8b7c6d",
		Ref: "main", Author: "octocat", Title: "Fix <script>",
		Jobs: []cinotify.Job{
			{Name: "build", Status: cinotify.StatusSuccess, URL: "https://ci/1"},
			{Name: "test", Status: cinotify.StatusFailure, URL: "javascript:alert(1)"},
			{Name: "deploy", Status: cinotify.StatusQueued},
			{Name: "lint", Status: cinotify.StatusRunning},
		},
	}
	m := Render(p, &Mention{UserID: "@mona:example.org", DisplayName: "octocat"})
	wantPlain := "❌ octo/widget: CI #7 failed on main @ 4f7c2d1e · octocat\nFix <script>\n✅ build https://ci/1\n❌ test\n⏳ deploy\n🟠 lint"
	if m.Plain != wantPlain {
		t.Errorf("Plain =\n%s\nwant\n%s", m.Plain, wantPlain)
	}
	for _, want := range []string{
		`<a href="https://matrix.to/#/@mona:example.org">octocat</a>`,
		`<li>✅ <a href="https://ci/1">build</a></li>`,
		`<li>❌ test</li>`, // javascript: link dropped
		`<i>Fix &lt;script&gt;</i>`,
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %s:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "javascript:") || strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML carries unsafe content:\n%s", m.HTML)
	}
	if lines := strings.Count(m.Plain, "\n") + 1; lines != 2+len(p.Jobs) {
		t.Errorf("Plain has %d lines, want one headline, the title, one per job", lines)
	}
}

func TestIcon(t *testing.T) {
	for s, want := range map[cinotify.Status]string{
		cinotify.StatusSuccess: "✅", cinotify.StatusFailure: "❌", cinotify.StatusRunning: "🟠", cinotify.StatusQueued: "⏳",
	} {
		if got := Icon(s); got != want {
			t.Errorf("Icon(%s) = %s, want %s", s, got, want)
		}
	}
}
