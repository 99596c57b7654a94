// Package format renders a pipeline as a Matrix message: a plain-text body
// and an HTML body (format org.matrix.custom.html, Matrix client-server API
// §"m.room.message msgtypes"), one headline plus one line per job.
package format

import (
	"html"
	"net/url"
	"strings"

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

// Render renders p. If mention is non-nil the author is shown as a pill
// (a matrix.to link, which clients turn into a mention) instead of a name;
// the caller decides when (on failure) and adds m.mentions.
func Render(p *cinotify.Pipeline, mention *Mention) Message {
	st := p.Overall()
	var plain, h strings.Builder
	name := p.Name
	if name == "" {
		name = "pipeline " + p.ID
	}
	// Headline: "❌ owner/repo: CI #42 failed on main (abc1234) · alice".
	plain.WriteString(Icon(st) + " " + p.Repo + ": " + name + " " + verb(st))
	h.WriteString(Icon(st) + " <b>" + link(p.RepoURL, p.Repo) + "</b>: " + link(p.URL, name) + " " + verb(st))
	if p.Ref != "" {
		plain.WriteString(" on " + p.Ref)
		h.WriteString(" on <code>" + html.EscapeString(p.Ref) + "</code>")
	}
	if p.PullRequest != "" {
		plain.WriteString(" (PR #" + p.PullRequest + ")")
		h.WriteString(" (PR #" + html.EscapeString(p.PullRequest) + ")")
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
		dn := mention.DisplayName
		if dn == "" {
			dn = mention.UserID
		}
		plain.WriteString(" · " + dn)
		h.WriteString(` · <a href="https://matrix.to/#/` + html.EscapeString(url.PathEscape(mention.UserID)) + `">` + html.EscapeString(dn) + "</a>")
	case p.Author != "":
		plain.WriteString(" · " + p.Author)
		h.WriteString(" · " + html.EscapeString(p.Author))
	}
	if p.Title != "" {
		plain.WriteString("\n" + p.Title)
		h.WriteString("<br><i>" + html.EscapeString(p.Title) + "</i>")
	}
	if len(p.Jobs) > 0 {
		h.WriteString("<ul>")
		for _, j := range p.Jobs {
			plain.WriteString("\n" + Icon(j.Status) + " " + j.Name)
			if safeURL(j.URL) {
				plain.WriteString(" " + j.URL)
			}
			h.WriteString("<li>" + Icon(j.Status) + " " + link(j.URL, j.Name) + "</li>")
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

func safeURL(u string) bool {
	if u == "" || strings.ContainsAny(u, " \n\r\t") {
		return false
	}
	pu, err := url.Parse(u)
	return err == nil && (pu.Scheme == "https" || pu.Scheme == "http") && pu.Host != ""
}
