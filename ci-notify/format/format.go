// Package format renders a pipeline as a Matrix message: a plain-text body
// and an HTML body (format org.matrix.custom.html, Matrix client-server API
// §"m.room.message msgtypes"), one headline plus one line per job.
package format

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"unicode/utf8"

	cinotify "scop/ci-notify"
)

// Icon is the symbol shown for a status: ✅ success, ❌ failure, 🟠 running,
// ⏳ queued, ⛔ cancelled, ⏭ skipped.
func Icon(s cinotify.Status) string {
	switch s {
	case cinotify.StatusSuccess:
		return "✅"
	case cinotify.StatusFailure:
		return "❌"
	case cinotify.StatusRunning:
		return "🟠"
	case cinotify.StatusCancelled:
		return "⛔"
	case cinotify.StatusSkipped:
		return "⏭"
	}
	return "⏳"
}

func verb(s cinotify.Status) string {
	switch s {
	case cinotify.StatusSuccess:
		return "passed"
	case cinotify.StatusFailure:
		return "failed"
	case cinotify.StatusRunning:
		return "running"
	case cinotify.StatusCancelled:
		return "cancelled"
	case cinotify.StatusSkipped:
		return "skipped"
	}
	return "queued"
}

// Message is a rendered pipeline.
type Message struct {
	Plain string
	HTML  string
}

// Mention names a Matrix user to mention in the headline.
type Mention struct {
	UserID      string
	DisplayName string
}

// MaxBytes bounds a rendered message (plain plus HTML, as JSON-escaped
// strings), so that an edit, which carries both twice (fallback and
// m.new_content), stays under the 65,536 bytes Matrix allows an event.
const MaxBytes = 24 << 10

// Size is the JSON-escaped size of m, the measure MaxBytes bounds.
func (m Message) Size() int {
	b, _ := json.Marshal([2]string{m.Plain, m.HTML})
	return len(b)
}

// Render renders p. If mention is non-nil the author is shown as a pill
// (a matrix.to link, which clients turn into a mention) instead of a name;
// the caller decides when (on failure) and adds m.mentions. Long fields are
// clipped; if the message is still over MaxBytes, job links go, then jobs
// beyond what fits are summed up in a last line.
func Render(p *cinotify.Pipeline, mention *Mention) Message {
	m := render(p, mention, true, len(p.Jobs))
	if m.Size() <= MaxBytes {
		return m
	}
	m = render(p, mention, false, len(p.Jobs))
	for n := len(p.Jobs); m.Size() > MaxBytes && n > 0; {
		n /= 2
		m = render(p, mention, false, n)
	}
	return m
}

// Field limits, in runes.
const (
	maxName  = 120
	maxTitle = 300
	maxURL   = 2048
)

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func render(p *cinotify.Pipeline, mention *Mention, links bool, maxJobs int) Message {
	st := p.Overall()
	var plain, h strings.Builder
	name := clip(p.Name, maxName)
	if name == "" {
		name = "pipeline " + clip(p.ID, maxName)
	}
	repo, ref, pr, author := clip(p.Repo, maxName), clip(p.Ref, maxName), clip(p.PullRequest, 20), clip(p.Author, maxName)
	// Headline: "❌ owner/repo: CI #42 failed on main (abc1234) · alice".
	plain.WriteString(Icon(st) + " " + repo + ": " + name + " " + verb(st))
	h.WriteString(Icon(st) + " <b>" + link(p.RepoURL, repo) + "</b>: " + link(p.URL, name) + " " + verb(st))
	if ref != "" {
		plain.WriteString(" on " + ref)
		h.WriteString(" on <code>" + html.EscapeString(ref) + "</code>")
	}
	if pr != "" {
		plain.WriteString(" (PR #" + pr + ")")
		h.WriteString(" (PR #" + html.EscapeString(pr) + ")")
	}
	if p.Commit != "" {
		short := p.Commit
		if len(short) > 8 {
			short = short[:8]
		}
		plain.WriteString(" @ " + short)
		h.WriteString(" @ " + link(p.CommitURL, short))
	}
	switch {
	case mention != nil:
		dn := clip(mention.DisplayName, maxName)
		if dn == "" {
			dn = mention.UserID
		}
		plain.WriteString(" · " + dn)
		h.WriteString(` · <a href="https://matrix.to/#/` + html.EscapeString(url.PathEscape(mention.UserID)) + `">` + html.EscapeString(dn) + "</a>")
	case author != "":
		plain.WriteString(" · " + author)
		h.WriteString(" · " + html.EscapeString(author))
	}
	if title := clip(firstLine(p.Title), maxTitle); title != "" {
		plain.WriteString("\n" + title)
		h.WriteString("<br><i>" + html.EscapeString(title) + "</i>")
	}
	if len(p.Jobs) > 0 {
		h.WriteString("<ul>")
		for i, j := range p.Jobs {
			if i == maxJobs {
				more := fmt.Sprintf("… and %d more jobs", len(p.Jobs)-i)
				plain.WriteString("\n" + more)
				h.WriteString("<li>" + more + "</li>")
				break
			}
			jn := clip(j.Name, maxName)
			u := j.URL
			if !links {
				u = ""
			}
			plain.WriteString("\n" + Icon(j.Status) + " " + jn)
			if safeURL(u) {
				plain.WriteString(" " + u)
			}
			h.WriteString("<li>" + Icon(j.Status) + " " + link(u, jn) + "</li>")
		}
		h.WriteString("</ul>")
	}
	return Message{Plain: plain.String(), HTML: h.String()}
}

// link renders text as a link to u, or as plain escaped text when u is not
// an http(s) URL: a CI payload must not put javascript: into a client.
func link(u, text string) string {
	if !safeURL(u) {
		return html.EscapeString(text)
	}
	return `<a href="` + html.EscapeString(u) + `">` + html.EscapeString(text) + "</a>"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

func safeURL(u string) bool {
	if u == "" || len(u) > maxURL || strings.ContainsAny(u, " \n\r\t") {
		return false
	}
	pu, err := url.Parse(u)
	return err == nil && (pu.Scheme == "https" || pu.Scheme == "http") && pu.Host != ""
}
