package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	cinotify "scop/ci-notify"
)

// GitHub webhook payloads (docs.github.com, "Webhook events and payloads"):
// only the fields ci-notify reads. Gitea ≥ 1.24 sends the same shapes for its
// workflow_run and workflow_job events.

type ghRepo struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
}

type ghUser struct {
	Login string `json:"login"`
}

type ghPull struct {
	Number json.Number `json:"number"`
}

type ghCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

type ghWorkflowRun struct {
	ID           json.Number `json:"id"`
	Name         string      `json:"name"`
	DisplayTitle string      `json:"display_title"`
	RunNumber    json.Number `json:"run_number"`
	RunAttempt   int         `json:"run_attempt"`
	HeadBranch   string      `json:"head_branch"`
	HeadSHA      string      `json:"head_sha"`
	Status       string      `json:"status"`
	Conclusion   *string     `json:"conclusion"`
	HTMLURL      string      `json:"html_url"`
	PullRequests []ghPull    `json:"pull_requests"`
	Actor        *ghUser     `json:"actor"`
	HeadCommit   *ghCommit   `json:"head_commit"`
}

type ghWorkflowJob struct {
	ID           json.Number `json:"id"`
	RunID        json.Number `json:"run_id"`
	RunURL       string      `json:"run_url"`
	RunAttempt   int         `json:"run_attempt"`
	WorkflowName string      `json:"workflow_name"`
	HeadBranch   string      `json:"head_branch"`
	HeadSHA      string      `json:"head_sha"`
	Status       string      `json:"status"`
	Conclusion   *string     `json:"conclusion"`
	Name         string      `json:"name"`
	HTMLURL      string      `json:"html_url"`
}

type ghCheckRun struct {
	ID         json.Number `json:"id"`
	Name       string      `json:"name"`
	HeadSHA    string      `json:"head_sha"`
	Status     string      `json:"status"`
	Conclusion *string     `json:"conclusion"`
	HTMLURL    string      `json:"html_url"`
	DetailsURL string      `json:"details_url"`
	CheckSuite *struct {
		ID           json.Number `json:"id"`
		HeadBranch   string      `json:"head_branch"`
		PullRequests []ghPull    `json:"pull_requests"`
	} `json:"check_suite"`
	App *struct {
		Name string `json:"name"`
	} `json:"app"`
}

type ghPayload struct {
	Action      string         `json:"action"`
	Repository  *ghRepo        `json:"repository"`
	Sender      *ghUser        `json:"sender"`
	WorkflowRun *ghWorkflowRun `json:"workflow_run"`
	WorkflowJob *ghWorkflowJob `json:"workflow_job"`
	CheckRun    *ghCheckRun    `json:"check_run"`
}

// ParseGitHub turns a GitHub (or Gitea's GitHub-compatible) webhook body of
// the given X-GitHub-Event type into an update. Event types other than
// workflow_run, workflow_job and check_run give ErrIgnored.
func ParseGitHub(eventType string, body []byte) (cinotify.Update, error) {
	switch eventType {
	case "workflow_run", "workflow_job", "check_run":
	default:
		return cinotify.Update{}, fmt.Errorf("%w: github event %q", ErrIgnored, eventType)
	}
	var p ghPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return cinotify.Update{}, fmt.Errorf("%w: github %s: %v", cinotify.ErrInvalid, eventType, err)
	}
	if p.Repository == nil || p.Repository.FullName == "" {
		return cinotify.Update{}, fmt.Errorf("%w: github %s: repository.full_name missing", cinotify.ErrInvalid, eventType)
	}
	u := cinotify.Update{
		Provider: "github",
		Repo:     p.Repository.FullName,
		RepoURL:  p.Repository.HTMLURL,
	}
	if p.Sender != nil {
		u.Author = p.Sender.Login
	}
	switch eventType {
	case "workflow_run":
		r := p.WorkflowRun
		if r == nil {
			return cinotify.Update{}, fmt.Errorf("%w: github workflow_run: workflow_run missing", cinotify.ErrInvalid)
		}
		st, err := githubStatus(r.Status, r.Conclusion)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("github workflow_run: %w", err)
		}
		u.Pipeline = r.ID.String()
		u.PipelineName = runName(r.Name, r.RunNumber.String())
		u.PipelineURL = r.HTMLURL
		u.Attempt = r.RunAttempt
		u.Commit = r.HeadSHA
		u.Ref = r.HeadBranch
		u.Status = st
		if len(r.PullRequests) > 0 {
			u.PullRequest = r.PullRequests[0].Number.String()
		}
		if r.Actor != nil && r.Actor.Login != "" {
			u.Author = r.Actor.Login
		}
		u.Title = r.DisplayTitle
		if u.Title == "" && r.HeadCommit != nil {
			u.Title = firstLine(r.HeadCommit.Message)
		}
	case "workflow_job":
		j := p.WorkflowJob
		if j == nil {
			return cinotify.Update{}, fmt.Errorf("%w: github workflow_job: workflow_job missing", cinotify.ErrInvalid)
		}
		st, err := githubStatus(j.Status, j.Conclusion)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("github workflow_job: %w", err)
		}
		u.Pipeline = j.RunID.String()
		u.PipelineName = j.WorkflowName
		u.PipelineURL = runURLFromJob(p.Repository.HTMLURL, j.RunID.String())
		u.Attempt = j.RunAttempt
		u.Commit = j.HeadSHA
		u.Ref = j.HeadBranch
		u.Jobs = []cinotify.Job{{Name: j.Name, ID: j.ID.String(), Status: st, URL: j.HTMLURL}}
	case "check_run":
		c := p.CheckRun
		if c == nil {
			return cinotify.Update{}, fmt.Errorf("%w: github check_run: check_run missing", cinotify.ErrInvalid)
		}
		st, err := githubStatus(c.Status, c.Conclusion)
		if err != nil {
			return cinotify.Update{}, fmt.Errorf("github check_run: %w", err)
		}
		if c.CheckSuite == nil {
			return cinotify.Update{}, fmt.Errorf("%w: github check_run: check_suite missing", cinotify.ErrInvalid)
		}
		u.Pipeline = "suite-" + c.CheckSuite.ID.String()
		u.Commit = c.HeadSHA
		u.Ref = c.CheckSuite.HeadBranch
		if len(c.CheckSuite.PullRequests) > 0 {
			u.PullRequest = c.CheckSuite.PullRequests[0].Number.String()
		}
		if c.App != nil {
			u.PipelineName = c.App.Name
		}
		url := c.HTMLURL
		if url == "" {
			url = c.DetailsURL
		}
		u.Jobs = []cinotify.Job{{Name: c.Name, ID: c.ID.String(), Status: st, URL: url}}
	}
	if u.Commit != "" && u.RepoURL != "" {
		u.CommitURL = u.RepoURL + "/commit/" + u.Commit
	}
	if err := u.Validate(); err != nil {
		return cinotify.Update{}, fmt.Errorf("github %s: %w", eventType, err)
	}
	return u, nil
}

// githubStatus maps GitHub's status (queued, in_progress, completed, waiting,
// requested, pending) and conclusion to a Status.
func githubStatus(status string, conclusion *string) (cinotify.Status, error) {
	if status == "completed" {
		if conclusion == nil || *conclusion == "" {
			return "", fmt.Errorf("%w: completed without a conclusion", cinotify.ErrInvalid)
		}
		return cinotify.ParseStatus(*conclusion)
	}
	if status == "" {
		return "", fmt.Errorf("%w: status missing", cinotify.ErrInvalid)
	}
	return cinotify.ParseStatus(status)
}

func runName(name, number string) string {
	if number == "" || number == "0" {
		return name
	}
	return strings.TrimSpace(name + " #" + number)
}

func runURLFromJob(repoURL, runID string) string {
	if repoURL == "" || runID == "" {
		return ""
	}
	return repoURL + "/actions/runs/" + runID
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// VerifyHMACSHA256 checks a hex HMAC-SHA256 of body under secret, as GitHub
// sends it in X-Hub-Signature-256 ("sha256=" + hex) and Gitea/Forgejo in
// X-Gitea-Signature / X-Forgejo-Signature (bare hex). The comparison is
// constant-time.
func VerifyHMACSHA256(secret, body []byte, signature string) bool {
	signature = strings.TrimPrefix(strings.TrimSpace(signature), "sha256=")
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size || len(secret) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// SignHMACSHA256 returns "sha256=" + the hex HMAC-SHA256 of body, the value
// of X-Hub-Signature-256 and of the generic format's X-Signature-256.
func SignHMACSHA256(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
