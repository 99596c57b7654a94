package cinotify

import "testing"

func TestPipelineApply(t *testing.T) {
	base := Update{Repo: "o/r", Pipeline: "1"}
	with := func(f func(*Update)) Update { u := base; f(&u); return u }
	job := func(name, id string, s Status) func(*Update) {
		return func(u *Update) { u.Jobs = []Job{{Name: name, ID: id, Status: s}} }
	}
	tests := []struct {
		name    string
		updates []Update
		want    []Status // job statuses after all updates
		overall Status
		changed bool // did the last update change anything
	}{
		{"Forward", []Update{with(job("a", "1", StatusQueued)), with(job("a", "1", StatusRunning)), with(job("a", "1", StatusSuccess))},
			[]Status{StatusSuccess}, StatusSuccess, true},
		{"LateRunningIgnored", []Update{with(job("a", "1", StatusSuccess)), with(job("a", "1", StatusRunning))},
			[]Status{StatusSuccess}, StatusSuccess, false},
		{"FinalCorrected", []Update{with(job("a", "1", StatusFailure)), with(job("a", "1", StatusSuccess))},
			[]Status{StatusSuccess}, StatusSuccess, true},
		{"RerunNewID", []Update{with(job("a", "1", StatusFailure)), with(job("a", "2", StatusQueued))},
			[]Status{StatusQueued}, StatusQueued, true},
		{"OlderIDIgnored", []Update{with(job("a", "2", StatusQueued)), with(job("a", "1", StatusFailure))},
			[]Status{StatusQueued}, StatusQueued, false},
		{"Duplicate", []Update{with(job("a", "1", StatusRunning)), with(job("a", "1", StatusRunning))},
			[]Status{StatusRunning}, StatusRunning, false},
		{"FailureWins", []Update{with(job("a", "1", StatusSuccess)), with(job("b", "2", StatusFailure)), with(job("c", "3", StatusRunning))},
			[]Status{StatusSuccess, StatusFailure, StatusRunning}, StatusFailure, true},
		{"PipelineStillRunning", []Update{with(func(u *Update) { u.Status = StatusRunning }), with(job("a", "1", StatusSuccess))},
			[]Status{StatusSuccess}, StatusRunning, true},
		{"PipelineDone", []Update{with(job("a", "1", StatusSuccess)), with(func(u *Update) { u.Status = StatusSuccess })},
			[]Status{StatusSuccess}, StatusSuccess, true},
		{"OldAttemptIgnored", []Update{with(func(u *Update) { u.Attempt = 2; u.Status = StatusRunning }), with(func(u *Update) { u.Attempt = 1; u.Status = StatusFailure })},
			nil, StatusRunning, false},
		{"NewAttemptResets", []Update{with(func(u *Update) { u.Attempt = 1; u.Status = StatusFailure }), with(func(u *Update) { u.Attempt = 2; u.Status = StatusQueued })},
			nil, StatusQueued, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Pipeline
			var changed bool
			for _, u := range tt.updates {
				if err := u.Validate(); err != nil {
					t.Fatalf("Validate(%+v) = %v", u, err)
				}
				changed = p.Apply(u)
			}
			if changed != tt.changed {
				t.Errorf("last Apply changed = %v, want %v", changed, tt.changed)
			}
			if len(p.Jobs) != len(tt.want) {
				t.Fatalf("jobs = %+v, want statuses %v", p.Jobs, tt.want)
			}
			for i, s := range tt.want {
				if p.Jobs[i].Status != s {
					t.Errorf("job %d status = %s, want %s", i, p.Jobs[i].Status, s)
				}
			}
			if got := p.Overall(); got != tt.overall {
				t.Errorf("Overall() = %s, want %s", got, tt.overall)
			}
		})
	}
}

func TestPipelineFieldsDoNotFlipFlop(t *testing.T) {
	run := Update{Repo: "o/r", Pipeline: "1", PipelineName: "CI #412", Status: StatusRunning}
	job := Update{Repo: "o/r", Pipeline: "1", PipelineName: "CI", Jobs: []Job{{Name: "a", Status: StatusRunning}}}
	var p Pipeline
	p.Apply(run)
	p.Apply(job)
	if p.Name != "CI #412" {
		t.Errorf("Name = %q after a job report, want the run's %q", p.Name, "CI #412")
	}
	if p.Apply(job) || p.Apply(run) {
		t.Error("repeating the reports changed the pipeline")
	}
	var q Pipeline
	q.Apply(job)
	if q.Name != "CI" {
		t.Errorf("Name = %q from a lone job report, want %q", q.Name, "CI")
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"queued", StatusQueued, true}, {"in_progress", StatusRunning, true}, {"SUCCESS", StatusSuccess, true},
		{"failed", StatusFailure, true}, {"canceled", StatusCancelled, true}, {"skipped", StatusSkipped, true},
		{"timed_out", StatusFailure, true}, {"", "", false}, {"exploded", "", false},
	}
	for _, tt := range tests {
		got, err := ParseStatus(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
