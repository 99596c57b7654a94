package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"

	cinotify "scop/ci-notify"
)

// Generic is ci-notify's own JSON format, for any CI that can POST JSON
// (documented in ci-notify/README.md). Unknown fields are refused, so that a
// typo in a field name fails loudly instead of being dropped.
type Generic struct {
	Repo         string       `json:"repo"`
	RepoURL      string       `json:"repo_url,omitempty"`
	Pipeline     string       `json:"pipeline"`
	PipelineName string       `json:"pipeline_name,omitempty"`
	PipelineURL  string       `json:"pipeline_url,omitempty"`
	Attempt      int          `json:"attempt,omitempty"`
	Commit       string       `json:"commit,omitempty"`
	CommitURL    string       `json:"commit_url,omitempty"`
	Ref          string       `json:"ref,omitempty"`
	PullRequest  string       `json:"pull_request,omitempty"`
	Author       string       `json:"author,omitempty"`
	Title        string       `json:"title,omitempty"`
	Status       string       `json:"status,omitempty"`
	Jobs         []GenericJob `json:"jobs,omitempty"`
}

// GenericJob is one job of a Generic pipeline report.
type GenericJob struct {
	Name   string `json:"name"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	URL    string `json:"url,omitempty"`
}

// ParseGeneric decodes a body in the generic format into an update.
func ParseGeneric(body []byte) (cinotify.Update, error) {
	var g Generic
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return cinotify.Update{}, fmt.Errorf("%w: generic: %v", cinotify.ErrInvalid, err)
	}
	if dec.More() {
		return cinotify.Update{}, fmt.Errorf("%w: generic: data after the JSON object", cinotify.ErrInvalid)
	}
	return g.Update()
}

// Update converts g to an update, normalising its status words.
func (g *Generic) Update() (cinotify.Update, error) {
	u := cinotify.Update{
		Provider:     "generic",
		Repo:         g.Repo,
		RepoURL:      g.RepoURL,
		Pipeline:     g.Pipeline,
		PipelineName: g.PipelineName,
		PipelineURL:  g.PipelineURL,
		Attempt:      g.Attempt,
		Commit:       g.Commit,
		CommitURL:    g.CommitURL,
		Ref:          g.Ref,
		PullRequest:  g.PullRequest,
		Author:       g.Author,
		Title:        g.Title,
	}
	if g.Attempt < 0 {
		return cinotify.Update{}, fmt.Errorf("%w: generic: negative attempt", cinotify.ErrInvalid)
	}
	if g.Status != "" {
		st, err := cinotify.ParseStatus(g.Status)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("generic: %w", err)
		}
		u.Status = st
	}
	for _, j := range g.Jobs {
		st, err := cinotify.ParseStatus(j.Status)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("generic job %q: %w", j.Name, err)
		}
		u.Jobs = append(u.Jobs, cinotify.Job{Name: j.Name, ID: j.ID, Status: st, URL: j.URL})
	}
	if err := u.Validate(); err != nil {
		return cinotify.Update{}, fmt.Errorf("generic: %w", err)
	}
	return u, nil
}
