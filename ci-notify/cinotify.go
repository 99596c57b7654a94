// Package cinotify is the domain of ci-notify, SCoP's CI notifier: build
// results from a CI system (a webhook or the command line) become one Matrix
// message per pipeline, edited in place as jobs progress.
//
// This package holds the types every part shares, and no I/O: an [Update] is
// what one webhook delivery or one command-line call says; a [Pipeline] is
// what is known about one pipeline after merging every update so far.
package cinotify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Status is the state of a job or a pipeline, normalised over CI systems.
type Status string

// The statuses, in the order a job normally goes through them. Every CI
// system's own vocabulary maps onto these (see ParseStatus and the webhook
// parsers).
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSuccess   Status = "success"
	StatusFailure   Status = "failure"
	StatusCancelled Status = "cancelled"
	StatusSkipped   Status = "skipped"
)

// ErrInvalid is wrapped by errors about input that can never succeed
// (missing fields, unknown status): a webhook answers 400 for it.
var ErrInvalid = errors.New("cinotify: invalid input")

// ParseStatus maps a status word to a Status. It knows the words of the
// generic format and the command line, plus common synonyms, so that scripts
// can pass what their CI prints.
func ParseStatus(s string) (Status, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "queued", "pending", "created", "waiting", "requested", "scheduled", "blocked", "waiting_for_resource", "preparing", "manual":
		return StatusQueued, nil
	case "running", "in_progress", "started":
		return StatusRunning, nil
	case "success", "succeeded", "passed", "ok", "neutral":
		return StatusSuccess, nil
	case "failure", "failed", "error", "errored", "timed_out", "action_required", "startup_failure":
		return StatusFailure, nil
	case "cancelled", "canceled", "aborted", "stale":
		return StatusCancelled, nil
	case "skipped":
		return StatusSkipped, nil
	}
	return "", fmt.Errorf("%w: unknown status %q", ErrInvalid, s)
}

// Terminal reports whether s is a final status.
func (s Status) Terminal() bool {
	switch s {
	case StatusSuccess, StatusFailure, StatusCancelled, StatusSkipped:
		return true
	}
	return false
}

// rank orders statuses so that a late "running" cannot undo "success".
func (s Status) rank() int {
	switch s {
	case StatusQueued:
		return 0
	case StatusRunning:
		return 1
	case "":
		return -1
	}
	return 2
}

// Job is one job (GitLab job, GitHub workflow job or check run) of a pipeline.
type Job struct {
	// Name is shown to people and identifies the job inside its pipeline.
	Name string `json:"name"`
	// ID is the CI system's job ID; a new ID under the same name is a re-run.
	ID     string `json:"id,omitempty"`
	Status Status `json:"status"`
	// URL links to the job's log.
	URL string `json:"url,omitempty"`
}

// Update is what one webhook delivery or one command-line call reports about
// a pipeline. Empty fields mean "not said", never "cleared".
type Update struct {
	// Provider names the source (github, gitlab, forgejo, generic, cli).
	Provider string
	// Repo is the repository's full name ("owner/name"); required.
	Repo    string
	RepoURL string
	// Pipeline is the pipeline (workflow run, check suite) ID, unique in Repo; required.
	Pipeline     string
	PipelineName string
	PipelineURL  string
	// Attempt counts re-runs of the same pipeline (GitHub run_attempt); 0 if unknown.
	Attempt   int
	Commit    string
	CommitURL string
	// Ref is the branch or tag name, without refs/heads/.
	Ref string
	// PullRequest is the pull or merge request number, if the pipeline runs for one.
	PullRequest string
	// Author is the CI system's user name of who caused the pipeline; it is
	// mapped to a Matrix ID to mention on failure.
	Author string
	Title  string
	// Status is the pipeline's own status, if the source reports one.
	Status Status
	// Jobs lists the jobs this update reports on.
	Jobs []Job
}

// Validate checks the fields every update needs.
func (u *Update) Validate() error {
	switch {
	case strings.TrimSpace(u.Repo) == "":
		return fmt.Errorf("%w: repository missing", ErrInvalid)
	case strings.TrimSpace(u.Pipeline) == "":
		return fmt.Errorf("%w: pipeline ID missing", ErrInvalid)
	case u.Status == "" && len(u.Jobs) == 0:
		return fmt.Errorf("%w: neither a status nor a job", ErrInvalid)
	case len(u.Repo) > 512 || len(u.Pipeline) > 256:
		return fmt.Errorf("%w: repository or pipeline ID too long", ErrInvalid)
	}
	for _, j := range u.Jobs {
		if strings.TrimSpace(j.Name) == "" {
			return fmt.Errorf("%w: job without a name", ErrInvalid)
		}
		if _, err := ParseStatus(string(j.Status)); err != nil {
			return fmt.Errorf("job %q: %w", j.Name, err)
		}
	}
	if u.Status != "" {
		if _, err := ParseStatus(string(u.Status)); err != nil {
			return err
		}
	}
	return nil
}

// Pipeline is the merged view of every update about one pipeline: what the
// message shows. It is stored as JSON, so fields only grow.
type Pipeline struct {
	Provider    string `json:"provider,omitempty"`
	Repo        string `json:"repo"`
	RepoURL     string `json:"repo_url,omitempty"`
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	URL         string `json:"url,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	Commit      string `json:"commit,omitempty"`
	CommitURL   string `json:"commit_url,omitempty"`
	Ref         string `json:"ref,omitempty"`
	PullRequest string `json:"pull_request,omitempty"`
	Author      string `json:"author,omitempty"`
	Title       string `json:"title,omitempty"`
	Status      Status `json:"status,omitempty"`
	Jobs        []Job  `json:"jobs,omitempty"`
}

// maxJobs bounds a pipeline's job list, so that a flood of job names cannot
// grow one message (and its stored state) without limit.
const maxJobs = 200

// Apply merges u into p and reports whether anything visible changed.
// Descriptive fields come from pipeline-level reports when there are any.
// Stale updates lose: a lower attempt is ignored, and within one attempt a job's
// status only moves forward (queued → running → final), except that a new
// job ID under the same name (a re-run) starts over.
func (p *Pipeline) Apply(u Update) bool {
	if u.Attempt != 0 && u.Attempt < p.Attempt {
		return false
	}
	changed := false
	// A pipeline-level report (one with a pipeline status) describes the
	// pipeline with authority; job reports only fill gaps, so that a
	// workflow_job's bare workflow name cannot flip-flop with a
	// workflow_run's "CI #412" and cause an edit each time.
	authoritative := u.Status != ""
	set := func(dst *string, v string) {
		if v != "" && *dst != v && (authoritative || *dst == "") {
			*dst = v
			changed = true
		}
	}
	if p.Repo == "" {
		p.Repo, p.ID, changed = u.Repo, u.Pipeline, true
	}
	newAttempt := u.Attempt > p.Attempt
	if newAttempt {
		p.Attempt = u.Attempt
		changed = true
	}
	set(&p.Provider, u.Provider)
	set(&p.RepoURL, u.RepoURL)
	set(&p.Name, u.PipelineName)
	set(&p.URL, u.PipelineURL)
	set(&p.Commit, u.Commit)
	set(&p.CommitURL, u.CommitURL)
	set(&p.Ref, u.Ref)
	set(&p.PullRequest, u.PullRequest)
	set(&p.Author, u.Author)
	set(&p.Title, u.Title)
	if u.Status != "" && (newAttempt || forward(p.Status, u.Status)) && p.Status != u.Status {
		p.Status = u.Status
		changed = true
	}
	for _, j := range dedupeJobs(u.Jobs) {
		i := p.job(j.Name)
		if i < 0 {
			if len(p.Jobs) >= maxJobs {
				continue
			}
			p.Jobs = append(p.Jobs, j)
			changed = true
			continue
		}
		old := &p.Jobs[i]
		if newer, known := newerID(j.ID, old.ID); known && !newer && j.ID != old.ID {
			continue // a late report about an older run of this job
		}
		rerun := newAttempt || (j.ID != "" && old.ID != "" && j.ID != old.ID)
		if !rerun && !forward(old.Status, j.Status) {
			continue
		}
		if *old != (Job{Name: old.Name, ID: or(j.ID, old.ID), Status: j.Status, URL: or(j.URL, old.URL)}) {
			*old = Job{Name: old.Name, ID: or(j.ID, old.ID), Status: j.Status, URL: or(j.URL, old.URL)}
			changed = true
		}
	}
	return changed
}

// dedupeJobs keeps one entry per job name: the newest by ID when IDs are
// numeric (GitLab lists retried jobs under one name), else the last, so that
// applying an update twice gives what applying it once does.
func dedupeJobs(jobs []Job) []Job {
	out := make([]Job, 0, len(jobs))
	idx := make(map[string]int, len(jobs))
	for _, j := range jobs {
		i, seen := idx[j.Name]
		if !seen {
			idx[j.Name] = len(out)
			out = append(out, j)
			continue
		}
		if newer, known := newerID(out[i].ID, j.ID); known && newer {
			continue
		}
		out[i] = j
	}
	return out
}

// newerID compares two job IDs as numbers; known is false unless both are
// decimal numbers.
func newerID(a, b string) (newer, known bool) {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return false, false
	}
	return na > nb, true
}

func (p *Pipeline) job(name string) int {
	for i := range p.Jobs {
		if p.Jobs[i].Name == name {
			return i
		}
	}
	return -1
}

// forward reports whether a status may replace another: never backwards, and
// one final status may replace another (a late correction).
func forward(old, new Status) bool {
	return new.rank() >= old.rank()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Overall is the status the message headline shows: a failed job fails the
// pipeline; otherwise the pipeline's own final status wins; otherwise the
// jobs decide (any still going means running).
func (p *Pipeline) Overall() Status {
	anyFailed, anyActive, anyCancelled, allSkipped := false, false, false, len(p.Jobs) > 0
	for _, j := range p.Jobs {
		switch j.Status {
		case StatusFailure:
			anyFailed = true
		case StatusQueued, StatusRunning:
			anyActive = true
		case StatusCancelled:
			anyCancelled = true
		}
		if j.Status != StatusSkipped {
			allSkipped = false
		}
	}
	switch {
	case anyFailed:
		return StatusFailure
	case p.Status.Terminal():
		return p.Status
	case anyActive:
		if anyRunning(p.Jobs) || p.Status == StatusRunning {
			return StatusRunning
		}
		return StatusQueued
	case len(p.Jobs) == 0:
		return p.Status
	case p.Status != "":
		// Every known job is done but the pipeline says it is not: more
		// jobs are coming.
		return StatusRunning
	case anyCancelled:
		return StatusCancelled
	case allSkipped:
		return StatusSkipped
	}
	return StatusSuccess
}

func anyRunning(jobs []Job) bool {
	for _, j := range jobs {
		if j.Status == StatusRunning {
			return true
		}
	}
	return false
}
