// Package notifier posts pipelines to Matrix with mautrix's client: one room
// per repository (created read-only on first use), one message per pipeline
// edited in place (m.replace with m.new_content, client-server API §"Event
// replacements"), optional threads per branch or pull request (m.thread), and
// a mention of the commit author on failure (m.mentions plus an HTML pill).
//
// Updates are stored first (store.Apply) and posted by workers afterwards;
// the store's version numbers make posting idempotent and restartable.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	cinotify "scop/ci-notify"
	"scop/ci-notify/store"
)

// Config says how to reach Matrix and how to lay out rooms and messages.
type Config struct {
	// Homeserver is the client-server API base URL (CI_NOTIFY_HOMESERVER).
	Homeserver string `yaml:"homeserver"`
	// User is the bot's Matrix ID or localpart (CI_NOTIFY_USER).
	User string `yaml:"user"`
	// Password (CI_NOTIFY_PASSWORD) or AccessToken (CI_NOTIFY_TOKEN) logs in.
	Password    string `yaml:"password"`
	AccessToken string `yaml:"access_token"`
	// Rooms maps a repository ("owner/name") to an existing room ID or alias
	// to post into instead of creating one.
	Rooms map[string]string `yaml:"rooms"`
	// Invite lists Matrix IDs invited to every room ci-notify creates.
	Invite []string `yaml:"invite"`
	// RepoInvite lists further invitees per repository.
	RepoInvite map[string][]string `yaml:"repo_invite"`
	// AliasPrefix starts the alias of created rooms: "#" + prefix +
	// repository with "/" as "_" + ":" + server. Default "ci_".
	AliasPrefix string `yaml:"alias_prefix"`
	// InviteOnly makes created rooms invite-only; by default anyone may join
	// through the alias (but only the bot may post).
	InviteOnly bool `yaml:"invite_only"`
	// Threads groups messages in a thread per "branch" (or pull request:
	// "pr", or both: "ref"); "" or "none" posts everything at top level.
	Threads string `yaml:"threads"`
	// Users maps CI user names to Matrix IDs, to mention them on failure.
	Users map[string]string `yaml:"users"`
	// Encrypt turns on encryption (m.room.encryption) in created rooms.
	// Needs a build with the goolm tag; see crypto.go.
	Encrypt bool `yaml:"encrypt"`
	// Workers is how many pipelines are posted in parallel (default 4).
	Workers int `yaml:"workers"`
	// Retry is the policy for homeserver calls; zero means DefaultRetry.
	Retry Retry `yaml:"-"`
	// Sweep is how often pipelines left behind (failed posts) are retried;
	// default 30s.
	Sweep time.Duration `yaml:"sweep"`
	// Retention is how long a finished, posted pipeline is remembered for
	// edits; default 30 days. A report after that starts a new message.
	Retention time.Duration `yaml:"retention"`
}

// Validate checks what New needs, naming the YAML key at fault.
func (c *Config) Validate() error {
	switch {
	case c.Homeserver == "":
		return errors.New("homeserver: missing (or CI_NOTIFY_HOMESERVER)")
	case c.User == "" && c.AccessToken == "":
		return errors.New("user: missing (or CI_NOTIFY_USER)")
	case c.Password == "" && c.AccessToken == "":
		return errors.New("password or access_token: missing (or CI_NOTIFY_PASSWORD / CI_NOTIFY_TOKEN)")
	}
	switch c.Threads {
	case "", "none", "branch", "pr", "ref":
	default:
		return fmt.Errorf("threads: %q is not none, branch, pr or ref", c.Threads)
	}
	return nil
}

// leaseTime bounds how long a crashed process blocks a pipeline for others.
const leaseTime = 2 * time.Minute

// Notifier posts and edits pipeline messages. Create it with New; call Run
// for background posting (serve) or Flush for one pipeline (the command line).
type Notifier struct {
	cfg   Config
	cli   *mautrix.Client
	store *store.Store
	log   *slog.Logger
	owner string // lease owner: unique per process

	roomMu sync.Mutex // serialises room creation
	gate   Gate       // shut while the homeserver rate-limits us

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []store.Key
	pending map[store.Key]bool
	busy    map[store.Key]bool
	closed  bool

	encChecked map[id.RoomID]bool // rooms whose encryption state is known
}

// New returns a Notifier posting with cli (logged in; see Login).
func New(cfg Config, cli *mautrix.Client, st *store.Store, log *slog.Logger) *Notifier {
	if cfg.AliasPrefix == "" {
		cfg.AliasPrefix = "ci_"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = 30 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry = DefaultRetry
	}
	n := &Notifier{
		cfg: cfg, cli: cli, store: st, log: log,
		owner:   fmt.Sprintf("%s/%d", cli.DeviceID, time.Now().UnixNano()),
		pending: map[store.Key]bool{},
		busy:    map[store.Key]bool{},

		encChecked: map[id.RoomID]bool{},
	}
	n.cond = sync.NewCond(&n.mu)
	return n
}

// Submit stores u and, if it changed its pipeline, queues the pipeline for
// posting. It returns once the update is committed, so the webhook can
// promise it is not lost.
func (n *Notifier) Submit(ctx context.Context, u cinotify.Update) error {
	k, changed, err := n.store.Apply(ctx, u)
	if err != nil {
		return err
	}
	if changed {
		n.enqueue(k)
	}
	return nil
}

func (n *Notifier) enqueue(k store.Key) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending[k] {
		return
	}
	n.pending[k] = true
	if !n.busy[k] {
		n.queue = append(n.queue, k)
		n.cond.Signal()
	}
}

// next blocks until a pipeline is ready to post and marks it busy; ok is
// false once Run's context has ended.
func (n *Notifier) next() (store.Key, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for len(n.queue) == 0 && !n.closed {
		n.cond.Wait()
	}
	if n.closed {
		return store.Key{}, false
	}
	k := n.queue[0]
	n.queue = n.queue[1:]
	delete(n.pending, k)
	n.busy[k] = true
	return k, true
}

func (n *Notifier) done(k store.Key) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.busy, k)
	if n.pending[k] {
		// Updated while it was being posted: post again.
		n.queue = append(n.queue, k)
		n.cond.Signal()
	}
}

// Run posts queued pipelines until ctx ends. At start it invites people
// added to the config since their rooms were made; at start and every
// Config.Sweep, it queues pipelines whose message is behind their state:
// those a restart or a failed post left.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range n.cfg.Workers {
		wg.Go(func() {
			for {
				k, ok := n.next()
				if !ok {
					return
				}
				n.flushLogged(ctx, k)
				n.done(k)
			}
		})
	}
	wg.Go(func() { n.InviteConfigured(ctx) })
	t := time.NewTicker(n.cfg.Sweep)
	defer t.Stop()
	for {
		n.sweep(ctx)
		select {
		case <-ctx.Done():
			n.mu.Lock()
			n.closed = true
			n.cond.Broadcast()
			n.mu.Unlock()
			wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

func (n *Notifier) sweep(ctx context.Context) {
	if pruned, err := n.store.Prune(ctx, time.Now().Add(-n.cfg.Retention)); err != nil {
		n.log.Error("prune pipelines", "err", err)
	} else if pruned > 0 {
		n.log.Info("pruned old pipelines", "count", pruned)
	}
	keys, err := n.store.Behind(ctx, 1000)
	if err != nil {
		n.log.Error("list pipelines behind", "err", err)
		return
	}
	for _, k := range keys {
		n.enqueue(k)
	}
}

func (n *Notifier) flushLogged(ctx context.Context, k store.Key) {
	defer func() {
		if v := recover(); v != nil {
			n.log.Error("post panic", "repo", k.Repo, "pipeline", k.Pipeline, "panic", v)
		}
	}()
	if err := n.Flush(ctx, k); err != nil {
		if errors.Is(err, store.ErrLeased) {
			n.log.Info("pipeline busy in another process; the sweep retries", "repo", k.Repo, "pipeline", k.Pipeline)
			return
		}
		n.log.Error("post pipeline", "repo", k.Repo, "pipeline", k.Pipeline, "err", err)
	}
}
