package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	_ "modernc.org/sqlite"

	"scop/ci-notify/webhook"
)

// env is a fake process environment for Main.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// botEnv registers a bot account and returns the environment logging in as
// it, with a fresh state directory.
func botEnv(t *testing.T) (env, *mautrix.Client) {
	t.Helper()
	bot, pass := newUser(t, "cibot")
	return env{
		"CI_NOTIFY_HOMESERVER": hs.url,
		"CI_NOTIFY_USER":       bot.UserID.String(),
		"CI_NOTIFY_PASSWORD":   pass,
		"CI_NOTIFY_STATE":      t.TempDir(),
	}, bot
}

func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ci-notify.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, e env, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	m := &Main{Getenv: e.get, Stdout: &out, Stderr: t.Output()}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return m.Run(ctx, args)
}

// originals lists a room's m.room.message events that are not edits and not
// thread roots, read with /messages (newest first, as the server gives them).
func originals(t *testing.T, cli *mautrix.Client, roomID id.RoomID, sender id.UserID) (orig, edits []*event.Event) {
	t.Helper()
	resp, err := cli.Messages(t.Context(), roomID, "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		t.Fatalf("/messages: %v", err)
	}
	for _, ev := range resp.Chunk {
		if ev.Type != event.EventMessage || ev.Sender != sender {
			continue
		}
		_ = ev.Content.ParseRaw(ev.Type)
		switch {
		case isEdit(ev):
			edits = append(edits, ev)
		case strings.HasPrefix(ev.Content.AsMessage().Body, "🧵"):
		default:
			orig = append(orig, ev)
		}
	}
	return orig, edits
}

func TestPostCreatesReadOnlyRoom(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	repo := fmt.Sprintf("octo/ro%d", time.Now().UnixNano()%1e6)
	post := func(args ...string) error {
		return runCmd(t, e, append([]string{"post", "--repo", repo, "--pipeline", "77", "--commit", "4f7c2d1e9a8b7c6d",
			"--ref", "main", "--pipeline-name", "CI #77"}, args...)...)
	}
	err := post("--job", "build", "--status", "running", "--url", "https://ci.example/jobs/1")
	requireFeature(t, "room creation and sending", err)

	// Anyone may join through the alias...
	alias := id.NewRoomAlias("ci_"+strings.ReplaceAll(repo, "/", "_"), "localhost")
	joined, err := alice.JoinRoom(t.Context(), alias.String(), nil)
	requireFeature(t, "joining by alias", err)
	roomID := joined.RoomID

	// ...but only the bot may post.
	_, err = alice.SendText(t.Context(), roomID, "hello")
	if !errors.Is(err, mautrix.MForbidden) {
		t.Fatalf("a member's message = %v, want M_FORBIDDEN", err)
	}
	orig0, _ := originals(t, alice, roomID, bot.UserID)
	if len(orig0) == 1 {
		if _, err := alice.SendReaction(t.Context(), roomID, orig0[0].ID, "👍"); !errors.Is(err, mautrix.MForbidden) {
			t.Errorf("a member's reaction = %v, want M_FORBIDDEN", err)
		}
	}
	if _, err := alice.SendStateEvent(t.Context(), roomID, event.StateRoomName, "", &event.RoomNameEventContent{Name: "mine"}); !errors.Is(err, mautrix.MForbidden) {
		t.Errorf("a member's rename = %v, want M_FORBIDDEN", err)
	}
	var name event.RoomNameEventContent
	if err := alice.StateEvent(t.Context(), roomID, event.StateRoomName, "", &name); err != nil || name.Name != "CI: "+repo {
		t.Errorf("room name = %q, %v; want %q", name.Name, err, "CI: "+repo)
	}
	var topic struct {
		Topic string `json:"topic"`
	}
	if err := alice.StateEvent(t.Context(), roomID, event.StateTopic, "", &topic); err != nil || !strings.Contains(topic.Topic, repo) {
		t.Errorf("room topic = %q, %v", topic.Topic, err)
	}
	var pl event.PowerLevelsEventContent
	if err := alice.StateEvent(t.Context(), roomID, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatalf("power levels: %v", err)
	}
	if pl.EventsDefault != 50 || pl.UsersDefault != 0 || pl.StateDefault() != 100 {
		t.Errorf("power levels events_default %d users_default %d state_default %d, want 50 0 100",
			pl.EventsDefault, pl.UsersDefault, pl.StateDefault())
	}

	if err := post("--job", "build", "--status", "success", "--url", "https://ci.example/jobs/1"); err != nil {
		t.Fatalf("post success: %v", err)
	}
	orig, edits := originals(t, alice, roomID, bot.UserID)
	if len(orig) != 1 {
		t.Fatalf("room holds %d pipeline messages, want 1", len(orig))
	}
	if len(edits) != 1 {
		t.Fatalf("room holds %d edits, want 1", len(edits))
	}
	c := edits[0].Content.AsMessage()
	if c.RelatesTo.EventID != orig[0].ID || c.NewContent == nil || !strings.HasPrefix(c.NewContent.Body, "✅") ||
		c.NewContent.Format != event.FormatHTML || !strings.Contains(c.NewContent.FormattedBody, `<a href="https://ci.example/jobs/1">build</a>`) {
		t.Errorf("edit = %+v, new content %+v", c.RelatesTo, c.NewContent)
	}
	if got := orig[0].Content.AsMessage().Body; !strings.HasPrefix(got, "🟠") {
		t.Errorf("original body %q, want it to start with 🟠 (running)", got)
	}
}

func TestRestartDoesNotDuplicate(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	repo := fmt.Sprintf("octo/restart%d", time.Now().UnixNano()%1e6)
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\n", alice.UserID))
	post := func(job, status string) error {
		// Each call is a fresh process: only the state directory carries over.
		return runCmd(t, e, "post", "--config", cfg, "--repo", repo, "--pipeline", "5", "--job", job, "--status", status)
	}
	requireFeature(t, "room creation and sending", post("build", "queued"))
	if err := post("build", "running"); err != nil {
		t.Fatal(err)
	}
	if err := post("build", "running"); err != nil { // a repeat: no change, no edit
		t.Fatal(err)
	}
	// A crash right after the homeserver took the first message but before
	// ci-notify stored its event ID: forget the event ID.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e["CI_NOTIFY_STATE"], "ci-notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE pipelines SET event_id='', posted_version=0, send_attempted=1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := post("build", "success"); err != nil {
		t.Fatal(err)
	}
	var roomID string
	db, _ = sql.Open("sqlite", "file:"+filepath.Join(e["CI_NOTIFY_STATE"], "ci-notify.db"))
	if err := db.QueryRow(`SELECT room_id FROM rooms WHERE repo=?`, repo).Scan(&roomID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := alice.JoinRoomByID(t.Context(), id.RoomID(roomID)); err != nil {
		t.Fatal(err)
	}
	orig, edits := originals(t, alice, id.RoomID(roomID), bot.UserID)
	if len(orig) != 1 {
		for _, ev := range orig {
			t.Logf("original %s: %q", ev.ID, ev.Content.AsMessage().Body)
		}
		t.Fatalf("room holds %d pipeline messages after restarts, want 1", len(orig))
	}
	if len(edits) != 2 {
		t.Errorf("room holds %d edits, want 2 (running, success)", len(edits))
	}
	if len(edits) > 0 && !strings.HasPrefix(edits[0].Content.AsMessage().NewContent.Body, "✅") {
		t.Errorf("newest edit %q, want ✅", edits[0].Content.AsMessage().NewContent.Body)
	}
}

// serveInProcess runs `ci-notify serve` in-process and returns its URL.
func serveInProcess(t testing.TB, e env, cfg string) string {
	t.Helper()
	ready := make(chan string, 1)
	m := &Main{Getenv: e.get, Stdout: io.Discard, Stderr: io.Discard, Ready: func(a string) { ready <- a }}
	if tt, ok := t.(*testing.T); ok {
		m.Stderr = tt.Output()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-ready:
		return "http://" + a
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve not ready after 60s")
	}
	return ""
}

func hook(t testing.TB, url, event string, body []byte, secret string) int {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-Hub-Signature-256", webhook.SignHMACSHA256([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func ghJob(repo string, run, job int, name, status, conclusion, sender string) []byte {
	c := "null"
	if conclusion != "" {
		c = `"` + conclusion + `"`
	}
	return fmt.Appendf(nil, `{"action":%q,"workflow_job":{"id":%d,"run_id":%d,"run_attempt":1,"workflow_name":"CI",
"head_branch":"main","head_sha":"4f7c2d1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d","status":%q,"conclusion":%s,"name":%q,
"html_url":"https://github.com/%s/actions/runs/%d/job/%d"},"repository":{"full_name":%q,"html_url":"https://github.com/%s"},
"sender":{"login":%q}}`, status, job, run, status, c, name, repo, run, job, repo, repo, sender)
}

func TestWebhooksEditInPlace(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	const secret = "s3cret"
	cfg := writeConfig(t, fmt.Sprintf(`invite: [%q]
threads: branch
users: {octocat: %q}
webhooks: {github_secret: %q}
`, alice.UserID, alice.UserID, secret))
	url := serveInProcess(t, e, cfg)
	sy := newSyncer(t, alice)
	repo := fmt.Sprintf("octo/hooks%d", time.Now().UnixNano()%1e6)

	// Refused and malformed deliveries change nothing and do not hurt.
	if got := hook(t, url, "workflow_job", ghJob(repo, 900, 1, "build", "queued", "", "octocat"), "wrong"); got != http.StatusUnauthorized {
		t.Errorf("bad signature answered %d, want 401", got)
	}
	if got := hook(t, url, "workflow_job", []byte(`{"workflow_job": [`), secret); got != http.StatusBadRequest {
		t.Errorf("malformed JSON answered %d, want 400", got)
	}
	if got := hook(t, url, "workflow_job", []byte(`{"repository":{"full_name":"a/b"}}`), secret); got != http.StatusBadRequest {
		t.Errorf("missing fields answered %d, want 400", got)
	}
	if got := hook(t, url, "ping", []byte(`{"zen":"hi"}`), secret); got != http.StatusNoContent {
		t.Errorf("ping answered %d, want 204", got)
	}

	steps := []struct {
		job             int
		name, st, concl string
		wantPrefix      string
	}{
		{1, "build", "queued", "", "⏳"},
		{1, "build", "in_progress", "", "🟠"},
		{1, "build", "completed", "success", "✅"},
		{2, "test", "in_progress", "", "🟠"},
		{2, "test", "completed", "failure", "❌"},
	}
	var first *event.Event
	for i, s := range steps {
		if got := hook(t, url, "workflow_job", ghJob(repo, 900, s.job, s.name, s.st, s.concl, "octocat"), secret); got != http.StatusAccepted {
			t.Fatalf("step %d answered %d, want 202", i, got)
		}
		wantLine := fmt.Sprintf("%s %s", map[string]string{"queued": "⏳", "in_progress": "🟠", "success": "✅", "failure": "❌"}[or(s.concl, s.st)], s.name)
		ev, err := sy.waitErr(30*time.Second, func(ev *event.Event) bool {
			return ev.Sender == bot.UserID && strings.Contains(body(ev), repo) && strings.Contains(body(ev), wantLine)
		})
		if err != nil {
			requireFeature(t, "sync of the posted message", err)
		}
		if i == 0 {
			first = ev
			if isEdit(ev) {
				t.Fatal("the first delivery produced an edit, want a new message")
			}
			rel := ev.Content.AsMessage().RelatesTo
			if rel == nil || rel.Type != event.RelThread {
				t.Errorf("first message relation %+v, want an m.thread (threads: branch)", rel)
			}
		} else if !isEdit(ev) || ev.Content.AsMessage().RelatesTo.EventID != first.ID {
			t.Fatalf("step %d gave %s, want an edit of %s", i, ev.ID, first.ID)
		}
	}
	// The failure mentions the author's mapped Matrix ID, once.
	msgs := sy.messages(first.RoomID)
	last := msgs[len(msgs)-1].Content.AsMessage()
	if last.NewContent == nil || last.NewContent.Mentions == nil || len(last.NewContent.Mentions.UserIDs) != 1 ||
		last.NewContent.Mentions.UserIDs[0] != alice.UserID || !strings.Contains(last.NewContent.FormattedBody, "https://matrix.to/#/"+alice.UserID.String()) {
		t.Errorf("failure edit does not mention %s: %+v", alice.UserID, last.NewContent)
	}
	if last.Mentions == nil || len(last.Mentions.UserIDs) != 1 {
		t.Errorf("failure edit's top-level m.mentions = %+v, want the author", last.Mentions)
	}
	orig := 0
	for _, ev := range msgs {
		if ev.Sender == bot.UserID && !isEdit(ev) && !strings.HasPrefix(body(ev), "🧵") {
			orig++
		}
	}
	if orig != 1 {
		t.Errorf("alice saw %d pipeline messages, want 1", orig)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestConfiguredRoomAndWipedState(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	// An existing room, mapped in the config: ci-notify posts there
	// instead of creating one.
	existing, err := alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "team"})
	requireFeature(t, "room creation", err)
	repoMapped := fmt.Sprintf("team/mapped%d", time.Now().UnixNano()%1e6)
	repoOwn := fmt.Sprintf("team/own%d", time.Now().UnixNano()%1e6)
	cfg := writeConfig(t, fmt.Sprintf("rooms: {%q: %q}\ninvite: [%q]\n", repoMapped, existing.RoomID, alice.UserID))
	if err := runCmd(t, e, "post", "--config", cfg, "--repo", repoMapped, "--pipeline", "1", "--status", "success"); err != nil {
		t.Fatalf("post to a mapped room: %v", err)
	}
	orig, _ := originals(t, alice, existing.RoomID, bot.UserID)
	if len(orig) != 1 || !strings.HasPrefix(orig[0].Content.AsMessage().Body, "✅ "+repoMapped) {
		t.Fatalf("mapped room holds %d messages from the bot, want the pipeline's", len(orig))
	}

	// A repository's own room survives a wiped state directory: the alias
	// leads back to it instead of a second room.
	if err := runCmd(t, e, "post", "--config", cfg, "--repo", repoOwn, "--pipeline", "1", "--status", "running"); err != nil {
		t.Fatal(err)
	}
	alias := id.NewRoomAlias("ci_"+strings.ReplaceAll(repoOwn, "/", "_"), "localhost")
	first, err := alice.ResolveAlias(t.Context(), alias)
	if err != nil {
		t.Fatal(err)
	}
	e2 := maps(e)
	e2["CI_NOTIFY_STATE"] = t.TempDir()
	if err := runCmd(t, e2, "post", "--config", cfg, "--repo", repoOwn, "--pipeline", "2", "--status", "failure"); err != nil {
		t.Fatalf("post after wiping the state: %v", err)
	}
	if _, err := alice.JoinRoomByID(t.Context(), first.RoomID); err != nil {
		t.Fatal(err)
	}
	orig, _ = originals(t, alice, first.RoomID, bot.UserID)
	if len(orig) != 2 {
		t.Errorf("the repository's room holds %d pipeline messages, want 2 (one per pipeline, same room)", len(orig))
	}
}

func maps(e env) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	return out
}

func TestServeRestartResumes(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	const secret = "gl"
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\nwebhooks: {gitlab_token: %q}\n", alice.UserID, secret))
	repo := fmt.Sprintf("grp/proj%d", time.Now().UnixNano()%1e6)
	sy := newSyncer(t, alice)
	pipeline := func(status, build string) []byte {
		return fmt.Appendf(nil, `{"object_kind":"pipeline","object_attributes":{"id":4242,"iid":7,"ref":"main","sha":"bcbb5ec396a2c0f8",
"status":%q,"url":"https://gitlab.example/%s/-/pipelines/4242"},"user":{"username":"root"},
"project":{"path_with_namespace":%q,"web_url":"https://gitlab.example/%s"},
"builds":[{"id":9,"stage":"test","name":"unit","status":%q}]}`, status, repo, repo, repo, build)
	}
	send := func(url string, b []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/hooks/gitlab", bytes.NewReader(b))
		req.Header.Set("X-Gitlab-Event", "Pipeline Hook")
		req.Header.Set("X-Gitlab-Token", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}
	}
	// First life of the server: the pipeline starts.
	{
		ctx, cancel := context.WithCancel(t.Context())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		m := &Main{Getenv: e.get, Stdout: io.Discard, Stderr: t.Output(), Ready: func(a string) { ready <- a }}
		go func() { done <- m.Run(ctx, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"}) }()
		url := "http://" + <-ready
		send(url, pipeline("running", "running"))
		sy.wait(t, 30*time.Second, "the running pipeline", func(ev *event.Event) bool {
			return ev.Sender == bot.UserID && strings.Contains(body(ev), repo) && strings.Contains(body(ev), "🟠 unit")
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("first serve: %v", err)
		}
	}
	// Second life, same state: the pipeline ends; the same message is edited.
	url := serveInProcess(t, e, cfg)
	send(url, pipeline("success", "success"))
	ev := sy.wait(t, 30*time.Second, "the finished pipeline", func(ev *event.Event) bool {
		return ev.Sender == bot.UserID && strings.Contains(body(ev), repo) && strings.Contains(body(ev), "✅ unit")
	})
	if !isEdit(ev) {
		t.Fatal("after a restart the pipeline got a new message, want an edit")
	}
	orig, _ := originals(t, alice, ev.RoomID, bot.UserID)
	if len(orig) != 1 {
		t.Errorf("room holds %d pipeline messages, want 1", len(orig))
	}
}

func TestTokenLoginAndPRThread(t *testing.T) {
	needHomeserver(t)
	bot, _ := newUser(t, "cibot")
	alice, _ := newUser(t, "alice")
	e := env{"CI_NOTIFY_HOMESERVER": hs.url, "CI_NOTIFY_TOKEN": bot.AccessToken, "CI_NOTIFY_STATE": t.TempDir()}
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\nthreads: pr\n", alice.UserID))
	repo := fmt.Sprintf("tok/app%d", time.Now().UnixNano()%1e6)
	for _, st := range []string{"running", "success"} {
		if err := runCmd(t, e, "post", "--config", cfg, "--repo", repo, "--pipeline", "3", "--pr", "41", "--ref", "feature",
			"--job", "build", "--status", st); err != nil {
			t.Fatalf("post with an access token: %v", err)
		}
	}
	joined, err := alice.JoinRoom(t.Context(), "#ci_"+strings.ReplaceAll(repo, "/", "_")+":localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := alice.Messages(t.Context(), joined.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	var root, msg *event.Event
	for _, ev := range resp.Chunk {
		if ev.Type != event.EventMessage || ev.Sender != bot.UserID {
			continue
		}
		_ = ev.Content.ParseRaw(ev.Type)
		switch b := ev.Content.AsMessage().Body; {
		case strings.HasPrefix(b, "🧵"):
			root = ev
		case !isEdit(ev):
			msg = ev
		}
	}
	if root == nil || msg == nil {
		t.Fatalf("want a thread root and a message, got root %v message %v", root, msg)
	}
	if !strings.Contains(root.Content.AsMessage().Body, "pull request #41") {
		t.Errorf("thread root %q, want it to name the pull request", root.Content.AsMessage().Body)
	}
	rel := msg.Content.AsMessage().RelatesTo
	if rel == nil || rel.Type != event.RelThread || rel.EventID != root.ID {
		t.Errorf("message relation %+v, want m.thread on %s", rel, root.ID)
	}
}

// TestParallelPosts runs several `post` commands at once on one state
// directory, as parallel CI jobs on one runner would: one message, every job
// in its final version.
func TestParallelPosts(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\n", alice.UserID))
	repo := fmt.Sprintf("par/app%d", time.Now().UnixNano()%1e6)
	// One post first, so that the session exists (parallel first logins
	// would each make a device).
	if err := runCmd(t, e, "post", "--config", cfg, "--repo", repo, "--pipeline", "1", "--status", "running"); err != nil {
		t.Fatal(err)
	}
	const jobs = 5
	errs := make(chan error, jobs)
	for i := range jobs {
		go func() {
			errs <- runCmd(t, e, "post", "--config", cfg, "--repo", repo, "--pipeline", "1",
				"--job", fmt.Sprintf("job%d", i), "--status", "success")
		}()
	}
	for range jobs {
		if err := <-errs; err != nil {
			t.Errorf("parallel post: %v", err)
		}
	}
	joined, err := alice.JoinRoom(t.Context(), "#ci_"+strings.ReplaceAll(repo, "/", "_")+":localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	orig, edits := originals(t, alice, joined.RoomID, bot.UserID)
	if len(orig) != 1 {
		t.Fatalf("room holds %d pipeline messages, want 1", len(orig))
	}
	if len(edits) == 0 {
		t.Fatal("no edits")
	}
	latest := edits[0].Content.AsMessage().NewContent.Body // /messages is newest first
	for i := range jobs {
		if !strings.Contains(latest, fmt.Sprintf("✅ job%d", i)) {
			t.Errorf("latest edit lacks job%d:\n%s", i, latest)
		}
	}
}

// TestInviteAddedLater: someone added to the config's invite list after the
// room was made is invited when serve starts.
func TestInviteAddedLater(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	repo := fmt.Sprintf("late/app%d", time.Now().UnixNano()%1e6)
	if err := runCmd(t, e, "post", "--repo", repo, "--pipeline", "1", "--status", "success"); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf("invite: [%q]\n", alice.UserID))
	sy := newSyncer(t, alice) // accepts invitations
	serveInProcess(t, e, cfg)
	res, err := alice.ResolveAlias(t.Context(), id.NewRoomAlias("ci_"+strings.ReplaceAll(repo, "/", "_"), "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	sy.waitJoined(t, res.RoomID, 30*time.Second)
	if orig, _ := originals(t, alice, res.RoomID, bot.UserID); len(orig) != 1 {
		t.Errorf("alice sees %d pipeline messages after joining, want 1", len(orig))
	}
}
