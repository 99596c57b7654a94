package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps pushers and the worker's stream position.
type Store interface {
	// Pushers lists every pusher (loaded once at start).
	Pushers(ctx context.Context) ([]Pusher, error)
	// SetPusher inserts or replaces the pusher (user, app_id, pushkey);
	// without appendOK it also removes other users' pushers with the same
	// app_id and pushkey.
	SetPusher(ctx context.Context, p Pusher, appendOK bool) error
	// DeletePusher removes one user's pusher.
	DeletePusher(ctx context.Context, userID, appID, pushkey string) error
	// Position returns the worker's stored position; ok is false when none is.
	Position(ctx context.Context) (pos int64, ok bool, err error)
	// SetPosition stores the worker's position durably.
	SetPosition(ctx context.Context, pos int64) error
}

// Options configure a Service.
type Options struct {
	Log *slog.Logger
	// Client posts to Push Gateways (default: 30 s timeout).
	Client *http.Client
	// MinBackoff and MaxBackoff bound the waits between attempts at a
	// failing gateway (defaults 1 s and 5 min); MaxAttempts bounds the
	// attempts per notification (default 8) so that one dead gateway
	// does not hold everyone's notifications forever.
	MinBackoff, MaxBackoff time.Duration
	MaxAttempts            int
}

// Service serves the pushers API and, once started, pushes
// notifications. The pushers are kept in memory (the worker checks each
// event's members against them) and written through to the store.
type Service struct {
	store Store
	opts  Options

	mu     sync.RWMutex
	byUser map[string][]Pusher
	// users is the set of users with pushers, replaced (never changed)
	// on each change so the worker reads it without locking.
	users   atomic.Pointer[map[string]bool]
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New loads the pushers from store.
func New(ctx context.Context, store Store, opts Options) (*Service, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Minute, opts.MinBackoff)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	all, err := store.Pushers(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: load pushers: %w", err)
	}
	s := &Service{store: store, opts: opts, byUser: map[string][]Pusher{}}
	for _, p := range all {
		s.byUser[p.UserID] = append(s.byUser[p.UserID], p)
	}
	s.publishUsersLocked()
	return s, nil
}

// Pushers returns a user's pushers (GET /pushers).
func (s *Service) Pushers(ctx context.Context, userID string) []Pusher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Pusher(nil), s.byUser[userID]...)
}

// HasPushers reports whether the user has a pusher.
func (s *Service) HasPushers(userID string) bool { return s.pusherUsers()[userID] }

// Set applies a parsed POST /pushers/set; when it returns, the change is
// on disk.
func (s *Service) Set(ctx context.Context, req *SetRequest) error {
	p := req.Pusher
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Delete {
		if err := s.store.DeletePusher(ctx, p.UserID, p.AppID, p.PushKey); err != nil {
			return err
		}
		s.dropLocked(func(q Pusher) bool { return q.UserID == p.UserID && q.AppID == p.AppID && q.PushKey == p.PushKey })
		return nil
	}
	p.PushKeyTS = time.Now().UnixMilli()
	for _, q := range s.byUser[p.UserID] {
		if q.AppID == p.AppID && q.PushKey == p.PushKey {
			p.PushKeyTS = q.PushKeyTS // an update keeps when the key was set
		}
	}
	if err := s.store.SetPusher(ctx, p, req.Append); err != nil {
		return err
	}
	s.dropLocked(func(q Pusher) bool {
		return q.AppID == p.AppID && q.PushKey == p.PushKey && (q.UserID == p.UserID || !req.Append)
	})
	s.byUser[p.UserID] = append(s.byUser[p.UserID], p)
	s.publishUsersLocked()
	return nil
}

// RemoveUser deletes every pusher of a user (account deactivation).
func (s *Service) RemoveUser(ctx context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.byUser[userID] {
		if err := s.store.DeletePusher(ctx, p.UserID, p.AppID, p.PushKey); err != nil {
			return err
		}
	}
	s.dropLocked(func(q Pusher) bool { return q.UserID == userID })
	return nil
}

// reject removes the pusher a gateway rejected.
func (s *Service) reject(ctx context.Context, p Pusher) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.DeletePusher(ctx, p.UserID, p.AppID, p.PushKey); err != nil {
		return err
	}
	s.dropLocked(func(q Pusher) bool { return q.UserID == p.UserID && q.AppID == p.AppID && q.PushKey == p.PushKey })
	return nil
}

// publishUsersLocked replaces the set of users with pushers.
func (s *Service) publishUsersLocked() {
	users := make(map[string]bool, len(s.byUser))
	for u := range s.byUser {
		users[u] = true
	}
	s.users.Store(&users)
}

// pusherUsers is the current set of users with pushers (read-only).
func (s *Service) pusherUsers() map[string]bool { return *s.users.Load() }

func (s *Service) dropLocked(match func(Pusher) bool) {
	for u, list := range s.byUser {
		var keep []Pusher
		for _, q := range list {
			if !match(q) {
				keep = append(keep, q)
			}
		}
		if len(keep) == 0 {
			delete(s.byUser, u)
		} else {
			s.byUser[u] = keep
		}
	}
	s.publishUsersLocked()
}

// Start runs the worker that follows src's stream and notifies the
// gateways, from the stored position (or the current one on first run:
// no history is pushed).
func (s *Service) Start(ctx context.Context, src Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("push: already started")
	}
	pos, ok, err := s.store.Position(ctx)
	if err != nil {
		return fmt.Errorf("push: load position: %w", err)
	}
	if !ok {
		pos, _ = src.StreamPosition()
		if err := s.store.SetPosition(ctx, pos); err != nil {
			return fmt.Errorf("push: store position: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.started, s.cancel = true, cancel
	w := &worker{svc: s, src: src, pos: pos, persisted: pos, savedAt: time.Now()}
	s.wg.Go(func() { w.run(runCtx) })
	return nil
}

// Close stops the worker and records its position.
func (s *Service) Close() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}
