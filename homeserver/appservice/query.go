package appservice

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	"scop/homeserver"
	"scop/homeserver/accounts"
	"scop/homeserver/storage"
)

// QueryUser asks the application services whose user namespace holds
// userID whether the user exists (GET /_matrix/app/v1/users/{userId}):
// true when one answered 200, by which time it has registered the user.
// Failures and timeouts count as "no".
func (s *Service) QueryUser(ctx context.Context, userID string) bool {
	return s.query(ctx, "u"+userID, queryPath("users", userID),
		func(as *accounts.AppService) bool { return as.UserInNamespace(userID, s.opts.ServerName) })
}

// QueryAlias asks the application services whose alias namespace holds
// alias whether it exists (GET /_matrix/app/v1/rooms/{roomAlias}): true
// when one answered 200, by which time it has created the alias.
func (s *Service) QueryAlias(ctx context.Context, alias string) bool {
	caller := ""
	if s.opts.Caller != nil {
		caller = s.opts.Caller(ctx)
	}
	return s.query(ctx, "a"+alias, queryPath("rooms", alias),
		func(as *accounts.AppService) bool { return as.ID != caller && as.AliasInNamespace(alias) })
}

// queryPath is the path of a user ("users") or alias ("rooms") query: the
// ID, which comes from a client, is one escaped path segment.
func queryPath(kind, id string) string {
	return "/_matrix/app/v1/" + kind + "/" + url.PathEscape(id)
}

// query asks each interested application service in turn. A lookup made
// while a query for the same ID is in flight answers false at once: the
// application service creating the user or alias in answer to the query
// looks it up itself, and waiting would deadlock.
func (s *Service) query(ctx context.Context, key, path string, interested func(*accounts.AppService) bool) bool {
	var targets []*accounts.AppService
	for _, as := range s.list {
		if as.URL != "" && interested(as) {
			targets = append(targets, as)
		}
	}
	if len(targets) == 0 {
		return false
	}
	s.inflightMu.Lock()
	if s.inflight[key] {
		s.inflightMu.Unlock()
		return false
	}
	s.inflight[key] = true
	s.inflightMu.Unlock()
	defer func() {
		s.inflightMu.Lock()
		delete(s.inflight, key)
		s.inflightMu.Unlock()
	}()
	for _, as := range targets {
		if s.ask(ctx, as, path) {
			return true
		}
	}
	return false
}

func (s *Service) ask(ctx context.Context, as *accounts.AppService, path string) bool {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	req, err := newRequest(ctx, as, http.MethodGet, path, nil)
	if err != nil {
		return false
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.opts.Log.Warn("application service query failed", "appservice", as.ID, "path", path, "err", err)
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode == http.StatusOK
}

// ProfileSource looks up local users' profiles (the accounts service).
type ProfileSource interface {
	// Profile returns a *homeserver.Error M_NOT_FOUND for an unknown user.
	Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error)
}

// Profile looks userID up in inner and, when it is unknown but in an
// application service's namespace, queries the application service and
// looks again.
func (s *Service) Profile(ctx context.Context, inner ProfileSource, userID string) (string, string, error) {
	dn, av, err := inner.Profile(ctx, userID)
	var he *homeserver.Error
	if err != nil && errors.As(err, &he) && he.Code == homeserver.ErrNotFound && s.QueryUser(ctx, userID) {
		return inner.Profile(ctx, userID)
	}
	return dn, av, err
}

// Profiles wraps inner so that every lookup goes through Profile (for
// the rooms service: invites and createRoom's invite list).
func (s *Service) Profiles(inner ProfileSource) ProfileSource { return profiles{s, inner} }

type profiles struct {
	s     *Service
	inner ProfileSource
}

func (p profiles) Profile(ctx context.Context, userID string) (string, string, error) {
	return p.s.Profile(ctx, p.inner, userID)
}

// Aliases wraps an alias store so that looking up an unknown alias in an
// application service's namespace queries the application service and
// looks again.
func (s *Service) Aliases(inner storage.AliasDB) storage.AliasDB { return aliasDB{inner, s} }

type aliasDB struct {
	storage.AliasDB
	s *Service
}

func (a aliasDB) Alias(ctx context.Context, alias string) (string, string, error) {
	roomID, creator, err := a.AliasDB.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) && a.s.QueryAlias(ctx, alias) {
		return a.AliasDB.Alias(ctx, alias)
	}
	return roomID, creator, err
}
