package webhook

import (
	"encoding/json"
	"fmt"

	cinotify "scop/ci-notify"
)

// GitLab webhook payloads (docs.gitlab.com, "Webhook events": Pipeline
// events and Job events), only the fields ci-notify reads.

type glProject struct {
	PathWithNamespace string `json:"path_with_namespace"`
	WebURL            string `json:"web_url"`
}

type glUser struct {
	Username string `json:"username"`
}

type glPipelinePayload struct {
	ObjectKind       string `json:"object_kind"`
	ObjectAttributes *struct {
		ID     json.Number `json:"id"`
		IID    json.Number `json:"iid"`
		Name   string      `json:"name"`
		Ref    string      `json:"ref"`
		Tag    bool        `json:"tag"`
		SHA    string      `json:"sha"`
		Status string      `json:"status"`
		URL    string      `json:"url"`
	} `json:"object_attributes"`
	MergeRequest *struct {
		IID json.Number `json:"iid"`
	} `json:"merge_request"`
	User    *glUser    `json:"user"`
	Project *glProject `json:"project"`
	Commit  *struct {
		ID      string `json:"id"`
		Message string `json:"message"`
		Title   string `json:"title"`
		URL     string `json:"url"`
	} `json:"commit"`
	Builds []struct {
		ID     json.Number `json:"id"`
		Stage  string      `json:"stage"`
		Name   string      `json:"name"`
		Status string      `json:"status"`
	} `json:"builds"`
}

type glJobPayload struct {
	ObjectKind  string      `json:"object_kind"`
	Ref         string      `json:"ref"`
	Tag         bool        `json:"tag"`
	SHA         string      `json:"sha"`
	BuildID     json.Number `json:"build_id"`
	BuildName   string      `json:"build_name"`
	BuildStage  string      `json:"build_stage"`
	BuildStatus string      `json:"build_status"`
	PipelineID  json.Number `json:"pipeline_id"`
	User        *glUser     `json:"user"`
	Project     *glProject  `json:"project"`
	Repository  *struct {
		Homepage string `json:"homepage"`
	} `json:"repository"`
	ProjectName string `json:"project_name"`
	Commit      *struct {
		Message string `json:"message"`
	} `json:"commit"`
}

// ParseGitLab turns a GitLab webhook body of the given X-Gitlab-Event type
// ("Pipeline Hook", "Job Hook") into an update; other types give ErrIgnored.
// A pipeline event carries its jobs ("builds"), so one delivery can update
// every line of the message.
func ParseGitLab(eventType string, body []byte) (cinotify.Update, error) {
	switch eventType {
	case "Pipeline Hook":
		return parseGitLabPipeline(body)
	case "Job Hook":
		return parseGitLabJob(body)
	}
	return cinotify.Update{}, fmt.Errorf("%w: gitlab event %q", ErrIgnored, eventType)
}

func parseGitLabPipeline(body []byte) (cinotify.Update, error) {
	var p glPipelinePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return cinotify.Update{}, fmt.Errorf("%w: gitlab pipeline: %v", cinotify.ErrInvalid, err)
	}
	a := p.ObjectAttributes
	if a == nil || p.Project == nil {
		return cinotify.Update{}, fmt.Errorf("%w: gitlab pipeline: object_attributes or project missing", cinotify.ErrInvalid)
	}
	st, err := cinotify.ParseStatus(a.Status)
	if err != nil {
		return cinotify.Update{}, fmt.Errorf("gitlab pipeline: %w", err)
	}
	u := cinotify.Update{
		Provider:     "gitlab",
		Repo:         p.Project.PathWithNamespace,
		RepoURL:      p.Project.WebURL,
		Pipeline:     a.ID.String(),
		PipelineName: gitlabPipelineName(a.Name, a.IID.String()),
		PipelineURL:  a.URL,
		Commit:       a.SHA,
		Ref:          a.Ref,
		Status:       st,
	}
	if u.PipelineURL == "" && u.RepoURL != "" && u.Pipeline != "" {
		u.PipelineURL = u.RepoURL + "/-/pipelines/" + u.Pipeline
	}
	if p.MergeRequest != nil {
		u.PullRequest = p.MergeRequest.IID.String()
	}
	if p.User != nil {
		u.Author = p.User.Username
	}
	if p.Commit != nil {
		u.CommitURL = p.Commit.URL
		u.Title = p.Commit.Title
		if u.Title == "" {
			u.Title = firstLine(p.Commit.Message)
		}
	}
	// GitLab lists builds newest first; show them in pipeline order.
	for i := len(p.Builds) - 1; i >= 0; i-- {
		b := p.Builds[i]
		bs, err := cinotify.ParseStatus(b.Status)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("gitlab pipeline job %q: %w", b.Name, err)
		}
		u.Jobs = append(u.Jobs, cinotify.Job{Name: b.Name, ID: b.ID.String(), Status: bs, URL: gitlabJobURL(u.RepoURL, b.ID.String())})
	}
	return finishGitLab(u)
}

func parseGitLabJob(body []byte) (cinotify.Update, error) {
	var p glJobPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return cinotify.Update{}, fmt.Errorf("%w: gitlab job: %v", cinotify.ErrInvalid, err)
	}
	st, err := cinotify.ParseStatus(p.BuildStatus)
	if err != nil {
		return cinotify.Update{}, fmt.Errorf("gitlab job: %w", err)
	}
	u := cinotify.Update{
		Provider: "gitlab",
		Pipeline: p.PipelineID.String(),
		Commit:   p.SHA,
		Ref:      p.Ref,
	}
	if p.Project != nil {
		u.Repo, u.RepoURL = p.Project.PathWithNamespace, p.Project.WebURL
	}
	if u.RepoURL == "" && p.Repository != nil {
		u.RepoURL = p.Repository.Homepage
	}
	if p.User != nil {
		u.Author = p.User.Username
	}
	if p.Commit != nil {
		u.Title = firstLine(p.Commit.Message)
	}
	if u.RepoURL != "" && u.Pipeline != "" {
		u.PipelineURL = u.RepoURL + "/-/pipelines/" + u.Pipeline
	}
	if u.RepoURL != "" && u.Commit != "" {
		u.CommitURL = u.RepoURL + "/-/commit/" + u.Commit
	}
	u.Jobs = []cinotify.Job{{Name: p.BuildName, ID: p.BuildID.String(), Status: st, URL: gitlabJobURL(u.RepoURL, p.BuildID.String())}}
	return finishGitLab(u)
}

func finishGitLab(u cinotify.Update) (cinotify.Update, error) {
	if err := u.Validate(); err != nil {
		return cinotify.Update{}, fmt.Errorf("gitlab: %w", err)
	}
	return u, nil
}

func gitlabPipelineName(name, iid string) string {
	if name == "" {
		name = "pipeline"
	}
	return runName(name, iid)
}

func gitlabJobURL(repoURL, id string) string {
	if repoURL == "" || id == "" {
		return ""
	}
	return repoURL + "/-/jobs/" + id
}
