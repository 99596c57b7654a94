package format

import (
	"encoding/json"
	"strconv"
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

// TestRenderFitsAnEvent: the largest pipeline still makes an edit event
// (body and HTML twice, JSON-escaped) under Matrix's 65,536-byte limit.
func TestRenderFitsAnEvent(t *testing.T) {
	p := &cinotify.Pipeline{Repo: strings.Repeat("r", 500), ID: "1", Name: strings.Repeat("<n>", 300),
		Title: strings.Repeat("&", 1000), Ref: strings.Repeat("b", 300), URL: "https://x/" + strings.Repeat("y", 1500)}
	for i := range 200 {
		p.Jobs = append(p.Jobs, cinotify.Job{Name: strings.Repeat("<", 150) + strconv.Itoa(i), Status: cinotify.StatusFailure,
			URL: "https://ci.example/" + strings.Repeat("&", 1900)})
	}
	m := Render(p, &Mention{UserID: "@a:b", DisplayName: strings.Repeat(">", 200)})
	edit := map[string]any{"msgtype": "m.text", "body": "* " + m.Plain, "format": "org.matrix.custom.html", "formatted_body": "* " + m.HTML,
		"m.new_content": map[string]any{"msgtype": "m.text", "body": m.Plain, "format": "org.matrix.custom.html", "formatted_body": m.HTML},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": "$" + strings.Repeat("e", 43)}}
	b, err := json.Marshal(edit)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 60000 {
		t.Errorf("edit content is %d bytes of JSON, over the event limit", len(b))
	}
	if !strings.Contains(m.Plain, "more jobs") {
		t.Errorf("no summary line for the jobs left out:\n%.300s", m.Plain)
	}
}
