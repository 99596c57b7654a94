package format

import (
	"strings"
	"testing"
	"unicode/utf8"

	cinotify "scop/ci-notify"
)

// FuzzRender feeds untrusted CI strings (names, titles, URLs) through the
// renderer: the HTML must never carry markup or a link scheme from them, and
// the message must stay within MaxBytes.
func FuzzRender(f *testing.F) {
	f.Add("octo/widget", "CI #1", "main", "Fix <b>bug</b>", "build", "https://ci/1", "javascript:alert(1)", 3)
	f.Add("a/b", "", "", "", "x\"><img src=x onerror=alert(1)>", "http://h/\"onmouseover=x", "data:text/html,x", 250)
	f.Fuzz(func(t *testing.T, repo, name, ref, title, job, url1, url2 string, njobs int) {
		p := &cinotify.Pipeline{Repo: repo, ID: "1", Name: name, Ref: ref, Title: title, URL: url2}
		for i := range min(max(njobs, 0), 300) {
			u := url1
			if i%2 == 1 {
				u = url2
			}
			p.Jobs = append(p.Jobs, cinotify.Job{Name: job + strings.Repeat("x", i%3), Status: cinotify.StatusFailure, URL: u})
		}
		m := Render(p, &Mention{UserID: "@a:b", DisplayName: name})
		if m.Size() > MaxBytes+4096 {
			t.Fatalf("message is %d bytes, over MaxBytes", m.Size())
		}
		if !utf8.ValidString(m.HTML) && utf8.ValidString(repo+name+ref+title+job+url1+url2) {
			t.Fatal("HTML is not valid UTF-8")
		}
		// Every tag in the HTML is one the renderer writes itself.
		rest := m.HTML
		for {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			ok := false
			for _, tag := range []string{"b>", "/b>", "a href=\"", "/a>", "code>", "/code>", "br>", "i>", "/i>", "ul>", "/ul>", "li>", "/li>"} {
				if strings.HasPrefix(rest, tag) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("unexpected markup <%.20s in %q", rest, m.HTML)
			}
			if strings.HasPrefix(rest, "a href=\"") {
				href := rest[len("a href=\""):]
				if !strings.HasPrefix(href, "http://") && !strings.HasPrefix(href, "https://") {
					t.Fatalf("link to %.30q", href)
				}
			}
		}
	})
}
