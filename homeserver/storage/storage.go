// Package storage defines the small per-domain persistence interfaces the
// room services use, so that SQLite (storage/sqlite) and a later PostgreSQL
// implementation are interchangeable without touching handlers or services.
//
// Numeric IDs (NIDs) for events, event types, state keys and state
// snapshots are allocated by the caller (the rooms service keeps counters
// seeded from MaxNIDs), so a batch can be assembled in memory and written
// in one transaction without round trips.
package storage

import (
	"context"
	"errors"
)

// ErrNotFound is returned by lookups of a single row that does not exist.
var ErrNotFound = errors.New("storage: not found")

// NIDs are the highest numeric IDs in use, to seed the allocators.
type NIDs struct {
	Room, Event, Type, StateKey, Snapshot, StreamPos int64
}

// Room is a room's durable head: its version and the current state.
type Room struct {
	NID          int64
	RoomID       string
	Version      string
	Snapshot     int64 // current state snapshot
	ChainLen     int   // deltas since the last full snapshot
	LatestEvents []string
	Depth        int64
	LastPos      int64 // stream position of the newest event
	Published    bool  // listed in the public room directory
}

// Event is one stored event: the federation PDU and the client-format
// JSON, both pre-serialised, plus the indexes the services query by.
type Event struct {
	NID         int64
	EventID     string
	RoomNID     int64
	Pos         int64 // global stream position, assigned at commit
	TypeNID     int64
	StateKeyNID int64 // 0 for a message event
	IsState     bool
	Sender      string
	StateBefore int64 // snapshot of the room state before this event
	TxnDevice   string
	TxnID       string
	PDU         []byte
	Client      []byte // client format without "unsigned"
	Unsigned    []byte // the unsigned object
}

// StateEntry maps one (type, state key) to the event holding it.
type StateEntry struct {
	TypeNID, StateKeyNID, EventNID int64
}

// Snapshot is a state snapshot: a parent and a delta, or a full
// checkpoint (Parent 0) listing every entry.
type Snapshot struct {
	NID, RoomNID, Parent int64
	Entries              []StateEntry
}

// Membership is a user's current membership in a room.
type Membership struct {
	UserID     string
	RoomNID    int64
	RoomID     string
	Membership string
	EventNID   int64
	Pos        int64
	Forgotten  bool
}

// AccountData is one global (RoomID "") or per-room account data entry.
type AccountData struct {
	UserID, RoomID, Type string
	Content              []byte
	Pos                  int64
}

// Name is a new event type or state key string with its NID.
type Name struct {
	NID  int64
	Name string
}

// Batch is everything one or more requests write together; the group
// committer merges pending batches into one transaction.
type Batch struct {
	Types, StateKeys []Name
	Rooms            []Room // inserted or updated (upsert by NID)
	Events           []Event
	Snapshots        []Snapshot
	Memberships      []Membership
	AccountData      []AccountData
	Redactions       []Redaction
	Receipts         []Receipt
	Aliases          []Alias
}

// Alias is a new room alias (the caller has reserved it: a batch never
// fails on a duplicate).
type Alias struct {
	Alias, RoomID, Creator string
}

// Receipt is a user's newest receipt of one type (and thread) in a room.
type Receipt struct {
	RoomNID                int64
	UserID, Type, ThreadID string
	EventID                string
	EventPos               int64 // stream position of the receipted event
	TS                     int64 // milliseconds since the epoch
	Pos                    int64
}

// Redaction replaces the stored JSON of a redacted event.
type Redaction struct {
	EventNID         int64
	PDU              []byte
	Client, Unsigned []byte
}

// Merge appends o's writes to b.
func (b *Batch) Merge(o *Batch) {
	b.Types = append(b.Types, o.Types...)
	b.StateKeys = append(b.StateKeys, o.StateKeys...)
	b.Rooms = append(b.Rooms, o.Rooms...)
	b.Events = append(b.Events, o.Events...)
	b.Snapshots = append(b.Snapshots, o.Snapshots...)
	b.Memberships = append(b.Memberships, o.Memberships...)
	b.AccountData = append(b.AccountData, o.AccountData...)
	b.Redactions = append(b.Redactions, o.Redactions...)
	b.Receipts = append(b.Receipts, o.Receipts...)
	b.Aliases = append(b.Aliases, o.Aliases...)
}

// Txn is an event sent with a client transaction ID.
type Txn struct {
	UserID, DeviceID, TxnID, EventID string
	Redaction                        bool // sent by /redact rather than /send
}

// StateChange is a state event as RoomStateChanges returns it: its
// stream position, type and PDU (which holds the state key and content).
type StateChange struct {
	Pos     int64
	TypeNID int64
	PDU     []byte
}

// RoomsDB is the persistence of rooms, events and state.
type RoomsDB interface {
	// MaxNIDs returns the highest allocated IDs.
	MaxNIDs(ctx context.Context) (NIDs, error)
	// Write applies the batch in one durable transaction.
	Write(ctx context.Context, b *Batch) error
	// Names returns every event type and state key NID.
	Names(ctx context.Context) (types, stateKeys map[string]int64, err error)
	// RoomByID returns a room, or ErrNotFound.
	RoomByID(ctx context.Context, roomID string) (Room, error)
	// ResolveSnapshot returns the full state of a snapshot: its chain of
	// deltas back to a checkpoint, applied oldest first.
	ResolveSnapshot(ctx context.Context, nid int64) ([]StateEntry, error)
	// EventsByNID returns the given events, in any order; missing ones are skipped.
	EventsByNID(ctx context.Context, nids []int64) ([]Event, error)
	// EventByID returns one event, or ErrNotFound.
	EventByID(ctx context.Context, eventID string) (Event, error)
	// RoomEvents returns up to limit events of a room with from < pos <= to,
	// newest first when backwards, else oldest first.
	RoomEvents(ctx context.Context, roomNID, from, to int64, limit int, backwards bool) ([]Event, error)
	// RoomStateChanges returns up to limit state events of a room of the
	// given types with after < pos <= upTo, oldest first, reading only
	// state events (not the whole timeline).
	RoomStateChanges(ctx context.Context, roomNID int64, typeNIDs []int64, after, upTo int64, limit int) ([]StateChange, error)
	// Memberships returns every local membership row (loaded at start).
	Memberships(ctx context.Context) ([]Membership, error)
	// SetForgotten marks a membership forgotten.
	SetForgotten(ctx context.Context, userID string, roomNID int64) error
	// RecentTxns returns the newest events sent with a transaction ID,
	// newest first, to seed the idempotency cache at start.
	RecentTxns(ctx context.Context, limit int) ([]Txn, error)
	// CountEvents counts, up to limit, a room's events with after < pos
	// <= upTo of the given types not sent by notSender.
	CountEvents(ctx context.Context, roomNID, after, upTo int64, typeNIDs []int64, notSender string, limit int) (int, error)
	// Receipts returns a room's receipts.
	Receipts(ctx context.Context, roomNID int64) ([]Receipt, error)
	// PublishedRooms lists the room IDs in the public directory.
	PublishedRooms(ctx context.Context) ([]string, error)
	// SetPublished lists or unlists a room in the directory.
	SetPublished(ctx context.Context, roomNID int64, published bool) error
}

// AliasDB stores room aliases.
type AliasDB interface {
	// CreateAlias returns ErrConflict when the alias exists.
	CreateAlias(ctx context.Context, alias, roomID, creator string) error
	// Alias returns the room and creator of an alias, or ErrNotFound.
	Alias(ctx context.Context, alias string) (roomID, creator string, err error)
	// DeleteAlias removes an alias; ErrNotFound when it does not exist.
	DeleteAlias(ctx context.Context, alias string) error
	// RoomAliases lists the aliases of a room.
	RoomAliases(ctx context.Context, roomID string) ([]string, error)
}

// ErrConflict is returned when a unique value already exists.
var ErrConflict = errors.New("storage: already exists")

// UserDataDB stores filters and account data reads.
type UserDataDB interface {
	// CreateFilter stores a filter and returns its ID.
	CreateFilter(ctx context.Context, userID string, filter []byte) (string, error)
	// Filter returns a stored filter, or ErrNotFound.
	Filter(ctx context.Context, userID, filterID string) ([]byte, error)
	// AccountData returns a user's entries changed after since (0 = all).
	AccountData(ctx context.Context, userID string, since int64) ([]AccountData, error)
}
