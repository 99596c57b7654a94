package webhook

import (
	"encoding/json"
	"fmt"
	"strings"

	cinotify "scop/ci-notify"
)

// Forgejo and Gitea webhooks. Forgejo ≥ 12 sends "action_run" when a run of
// Forgejo Actions ends (action success, failure or recover); Gitea ≥ 1.24
// sends GitHub-shaped "workflow_run" and "workflow_job" events, parsed by
// ParseGitHub. Both sign the body with X-Forgejo-Signature or
// X-Gitea-Signature: the bare hex HMAC-SHA256 under the webhook's secret.

type fjUser struct {
	Login    string `json:"login"`
	Username string `json:"username"`
}

type fjRun struct {
	ID           json.Number `json:"id"`
	Index        json.Number `json:"index_in_repo"`
	Title        string      `json:"title"`
	WorkflowID   string      `json:"workflow_id"`
	WorkflowName string      `json:"workflow_name"`
	Status       string      `json:"status"`
	Conclusion   string      `json:"conclusion"`
	HTMLURL      string      `json:"html_url"`
	CommitSHA    string      `json:"commit_sha"`
	HeadSHA      string      `json:"head_sha"`
	PrettyRef    string      `json:"prettyref"`
	HeadBranch   string      `json:"head_branch"`
	Ref          string      `json:"ref"`
	TriggerUser  *fjUser     `json:"trigger_user"`
}

type fjPayload struct {
	Action      string  `json:"action"`
	Run         *fjRun  `json:"run"`
	PriorStatus string  `json:"prior_status"`
	Repository  *ghRepo `json:"repository"`
	Sender      *fjUser `json:"sender"`
}

// ParseForgejo turns a Forgejo or Gitea webhook body of the given
// X-Forgejo-Event / X-Gitea-Event type into an update. action_run is
// Forgejo's own; workflow_run and workflow_job are Gitea's GitHub-compatible
// events; other types give ErrIgnored.
func ParseForgejo(eventType string, body []byte) (cinotify.Update, error) {
	switch eventType {
	case "workflow_run", "workflow_job":
		u, err := ParseGitHub(eventType, body)
		u.Provider = "forgejo"
		return u, err
	case "action_run":
	default:
		return cinotify.Update{}, fmt.Errorf("%w: forgejo event %q", ErrIgnored, eventType)
	}
	var p fjPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return cinotify.Update{}, fmt.Errorf("%w: forgejo action_run: %v", cinotify.ErrInvalid, err)
	}
	if p.Run == nil || p.Repository == nil {
		return cinotify.Update{}, fmt.Errorf("%w: forgejo action_run: run or repository missing", cinotify.ErrInvalid)
	}
	r := p.Run
	status := r.Status
	if r.Conclusion != "" {
		status = r.Conclusion
	}
	if status == "" || strings.EqualFold(status, "unknown") {
		// "action" is the run's outcome: success, failure or recover
		// (success after a failure).
		status = p.Action
		if status == "recover" {
			status = "success"
		}
	}
	st, err := cinotify.ParseStatus(status)
	if err != nil {
		return cinotify.Update{}, fmt.Errorf("forgejo action_run: %w", err)
	}
	u := cinotify.Update{
		Provider:     "forgejo",
		Repo:         p.Repository.FullName,
		RepoURL:      p.Repository.HTMLURL,
		Pipeline:     r.ID.String(),
		PipelineName: firstNonEmpty(r.WorkflowName, r.WorkflowID),
		PipelineURL:  r.HTMLURL,
		Commit:       firstNonEmpty(r.CommitSHA, r.HeadSHA),
		Ref:          strings.TrimPrefix(strings.TrimPrefix(firstNonEmpty(r.PrettyRef, r.HeadBranch, r.Ref), "refs/heads/"), "refs/tags/"),
		Title:        r.Title,
		Status:       st,
	}
	if idx := r.Index.String(); idx != "" && idx != "0" {
		u.PipelineName = runName(u.PipelineName, idx)
	}
	switch {
	case r.TriggerUser != nil:
		u.Author = firstNonEmpty(r.TriggerUser.Login, r.TriggerUser.Username)
	case p.Sender != nil:
		u.Author = firstNonEmpty(p.Sender.Login, p.Sender.Username)
	}
	if u.Commit != "" && u.RepoURL != "" {
		u.CommitURL = u.RepoURL + "/commit/" + u.Commit
	}
	if err := u.Validate(); err != nil {
		return cinotify.Update{}, fmt.Errorf("forgejo action_run: %w", err)
	}
	return u, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
