// Package rooms is SCoP's Matrix room core: it builds, hashes, signs and
// authorises events with gomatrixserverlib, keeps each room's current
// state in memory, stores events and state snapshots through
// storage.RoomsDB with a group committer, and serves /sync from a global
// stream position with a long-poll notifier.
//
// Writes follow commit → acknowledge → notify: an event is visible to
// readers (sync, state, messages) only once its transaction is durable.
package rooms

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// Config holds the room settings an operator may change.
type Config struct {
	// DefaultVersion is the room version of new rooms without room_version.
	DefaultVersion string
	// CheckpointEvery is how many state deltas a snapshot chain may have
	// before a full snapshot is written.
	CheckpointEvery int
	// RecentEvents is how many recent events per room stay in memory at
	// least (up to twice as many between trims).
	RecentEvents int
	// OnCommit, if set, observes how many submissions each group commit
	// carried (for metrics).
	OnCommit func(writes int)
}

// DefaultConfig returns the defaults: room version 12.
func DefaultConfig() Config {
	return Config{DefaultVersion: "12", CheckpointEvery: 64, RecentEvents: 64}
}

// SupportedVersions are the room versions SCoP creates and joins.
var SupportedVersions = []string{"10", "11", "12"}

// Profiles looks up local users' profiles for membership events.
type Profiles interface {
	// Profile returns a *homeserver.Error M_NOT_FOUND for an unknown user.
	Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error)
}

// Identity is the server's name and signing key.
type Identity struct {
	ServerName string
	KeyID      string
	Key        ed25519.PrivateKey
}

// Service is the room core. Create it with New; it is safe for concurrent use.
type Service struct {
	cfg      Config
	id       Identity
	db       storage.RoomsDB
	aliases  storage.AliasDB
	userData storage.UserDataDB
	profiles Profiles
	log      *slog.Logger

	notify *notifier
	commit *committer

	nextRoom, nextEvent, nextSnap atomic.Int64

	namesMu           sync.Mutex
	types, stateKeys  map[string]int64
	nextType, nextKey int64

	roomsMu sync.RWMutex
	rooms   map[string]*room // loaded rooms by ID

	memMu       sync.RWMutex
	memberships map[string]map[string]*membership // user → room ID → membership
	adPos       map[string]int64                  // user → newest account data position
	ignoredBy   map[string]map[string]bool        // user → ignored users, once loaded

	txns    sync.Map // txnKey → *txnResult while in flight
	txnDone *txnCache

	typing *typingState

	aliasMu   sync.Mutex
	aliasHeld map[string]bool // aliases being created

	tagMu sync.Mutex // serialises m.tag read-modify-write

	extra serviceExtras // visibility indexes, presence
	push  *pushState    // compiled push rules, unread counts

	upgrades sync.Map // room ID → *upgradeCall while an upgrade runs
}

// membership is a user's current membership in a room, as committed.
type membership struct {
	room       *room
	roomID     string
	membership string
	pos        int64
	eventNID   int64
	forgotten  bool
	// joinedAt and invitedAt are the positions where the current join
	// (and the invite before it) began, bounding what the user may see
	// under "joined" and "invited" history visibility. After a restart
	// they are the position of the latest membership event.
	joinedAt, invitedAt int64
}

// New builds the service, loading NID counters, names and memberships.
func New(ctx context.Context, cfg Config, id Identity, db storage.RoomsDB, aliases storage.AliasDB,
	userData storage.UserDataDB, profiles Profiles, log *slog.Logger) (*Service, error) {
	if _, err := roomVersion(cfg.DefaultVersion); err != nil {
		return nil, fmt.Errorf("rooms: default version: %w", err)
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 64
	}
	if cfg.RecentEvents <= 0 {
		cfg.RecentEvents = 64
	}
	nids, err := db.MaxNIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	types, keys, err := db.Names(ctx)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	s := &Service{
		cfg: cfg, id: id, db: db, aliases: aliases, userData: userData, profiles: profiles, log: log,
		types: types, stateKeys: keys, nextType: nids.Type, nextKey: nids.StateKey,
		rooms: map[string]*room{}, memberships: map[string]map[string]*membership{}, adPos: map[string]int64{}, ignoredBy: map[string]map[string]bool{},
		typing: newTypingState(), aliasHeld: map[string]bool{}, push: newPushState(),
	}
	s.nextRoom.Store(nids.Room)
	s.nextEvent.Store(nids.Event)
	s.nextSnap.Store(nids.Snapshot)
	s.notify = newNotifier(nids.StreamPos)
	s.commit = newCommitter(db, nids.StreamPos, s.notify, s.writeFailed, cfg.OnCommit)
	recent, err := db.RecentTxns(ctx, maxTxns)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	s.txnDone = newTxnCache(recent)
	ms, err := db.Memberships(ctx)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	for _, m := range ms {
		s.setMembership(m.UserID, &membership{roomID: m.RoomID, membership: m.Membership, pos: m.Pos, eventNID: m.EventNID, forgotten: m.Forgotten})
	}
	return s, nil
}

// Close stops the committer after the pending writes.
func (s *Service) Close() { s.commit.close() }

func roomVersion(v string) (gmsl.IRoomVersion, error) {
	for _, sv := range SupportedVersions {
		if sv == v {
			return gmsl.GetRoomVersion(gmsl.RoomVersion(v))
		}
	}
	return nil, &homeserver.Error{Code: homeserver.ErrUnsupportedRoomVer, Message: "Unsupported room version " + v}
}

// writeFailed runs when a batch could not be committed: in-memory room
// heads may already include the failed events, so drop every loaded room
// and the name maps; they are reloaded from the database on next use.
func (s *Service) writeFailed(err error) {
	s.log.Error("room write failed; dropping caches", "err", err)
	s.roomsMu.Lock()
	for _, r := range s.rooms {
		r.broken.Store(true)
	}
	s.rooms = map[string]*room{}
	s.roomsMu.Unlock()
	if types, keys, err := s.db.Names(context.Background()); err == nil {
		s.namesMu.Lock()
		s.types, s.stateKeys = types, keys
		s.namesMu.Unlock()
	}
}

// nameNIDs returns the NIDs of an event type and state key, allocating
// (and adding to b) the ones not seen before.
func (s *Service) nameNIDs(b *storage.Batch, typ string, key *string) (int64, int64) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	t, ok := s.types[typ]
	if !ok {
		s.nextType++
		t = s.nextType
		s.types[typ] = t
		b.Types = append(b.Types, storage.Name{NID: t, Name: typ})
	}
	if key == nil {
		return t, 0
	}
	k, ok := s.stateKeys[*key]
	if !ok {
		s.nextKey++
		k = s.nextKey
		s.stateKeys[*key] = k
		b.StateKeys = append(b.StateKeys, storage.Name{NID: k, Name: *key})
	}
	return t, k
}

// names returns reverse lookups of NIDs (for loading snapshots).
func (s *Service) names() (types, keys map[int64]string) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	types = make(map[int64]string, len(s.types))
	for n, id := range s.types {
		types[id] = n
	}
	keys = make(map[int64]string, len(s.stateKeys))
	for n, id := range s.stateKeys {
		keys[id] = n
	}
	return types, keys
}

// setMembership records a committed membership (memMu not held).
func (s *Service) setMembership(userID string, m *membership) {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	rs := s.memberships[userID]
	if rs == nil {
		rs = map[string]*membership{}
		s.memberships[userID] = rs
	}
	old := rs[m.roomID]
	if old != nil && m.room == nil {
		m.room = old.room
	}
	switch m.membership {
	case "join":
		m.joinedAt, m.invitedAt = m.pos, m.pos
		if old != nil && old.membership == "join" {
			m.joinedAt, m.invitedAt = old.joinedAt, old.invitedAt
		} else if old != nil && old.membership == "invite" {
			m.invitedAt = old.invitedAt
		}
	case "invite":
		m.invitedAt = m.pos
		if old != nil && old.membership == "invite" {
			m.invitedAt = old.invitedAt
		}
	default:
		if old != nil {
			m.joinedAt, m.invitedAt = old.joinedAt, old.invitedAt
		}
	}
	rs[m.roomID] = m
}

// userMemberships returns a copy of a user's memberships.
func (s *Service) userMemberships(userID string) []membership {
	s.memMu.RLock()
	defer s.memMu.RUnlock()
	out := make([]membership, 0, len(s.memberships[userID]))
	for _, m := range s.memberships[userID] {
		out = append(out, *m)
	}
	return out
}

// membershipOf returns the user's committed membership in a room ("" if none).
func (s *Service) membershipOf(userID, roomID string) membership {
	s.memMu.RLock()
	defer s.memMu.RUnlock()
	if m := s.memberships[userID][roomID]; m != nil {
		return *m
	}
	return membership{}
}

// parseRoomID validates a room ID from a request.
func parseRoomID(roomID string) error {
	if _, err := spec.NewRoomID(roomID); err != nil || len(roomID) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid room ID %q", roomID)
	}
	return nil
}

// parseUserID validates a user ID from a request.
func parseUserID(userID string) (*spec.UserID, error) {
	u, err := spec.NewUserID(userID, true)
	if err != nil || len(userID) > 255 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid user ID %q", userID)
	}
	return u, nil
}

func (s *Service) isLocal(u *spec.UserID) bool { return string(u.Domain()) == s.id.ServerName }

var errNoRoom = errors.New("no such room")

// ServerName returns the server name rooms and users belong to.
func (s *Service) ServerName() string { return s.id.ServerName }
