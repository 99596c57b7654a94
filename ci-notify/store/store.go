// Package store keeps ci-notify's state in SQLite (modernc.org/sqlite, no
// cgo): each pipeline's merged status with the Matrix room and event that
// show it, repository rooms, thread roots, and the bot's Matrix session, so
// that a restart neither posts a pipeline twice nor loses the message to
// edit.
//
// Every pipeline row carries a version bumped on each visible change and the
// version last posted; version > posted_version means "Matrix is behind". A
// lease column lets several ci-notify processes sharing one state directory
// post without racing.
package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	cinotify "scop/ci-notify"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrLeased is returned by Lease while another process holds the pipeline.
var ErrLeased = errors.New("store: pipeline leased by another process")

// Key identifies a pipeline.
type Key struct {
	Repo     string
	Pipeline string
}

// TxnBase is a stable, opaque prefix for the Matrix transaction IDs of this
// pipeline's events: the same send retried after a crash reuses its ID, so
// the homeserver answers with the event it already has.
func (k Key) TxnBase() string {
	sum := sha256.Sum256([]byte(k.Repo + "\x00" + k.Pipeline))
	return "cin" + hex.EncodeToString(sum[:12])
}

// Row is a pipeline as stored.
type Row struct {
	Key
	State         cinotify.Pipeline
	Version       int64
	PostedVersion int64
	RoomID        string
	EventID       string
	// SendAttempted records that the first message may have reached the
	// homeserver before a crash, so its content may be older than State.
	SendAttempted bool
	// Mentioned records that the author has been mentioned (pinged) already.
	Mentioned bool
}

// Store is the state database. Its methods are safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

const schema = `
CREATE TABLE IF NOT EXISTS pipelines (
	repo TEXT NOT NULL,
	pipeline TEXT NOT NULL,
	state TEXT NOT NULL,
	version INTEGER NOT NULL,
	posted_version INTEGER NOT NULL DEFAULT 0,
	room_id TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	send_attempted INTEGER NOT NULL DEFAULT 0,
	mentioned INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (repo, pipeline)
);
CREATE INDEX IF NOT EXISTS pipelines_behind ON pipelines (updated_at) WHERE version > posted_version;
CREATE TABLE IF NOT EXISTS rooms (
	repo TEXT PRIMARY KEY,
	room_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS threads (
	room_id TEXT NOT NULL,
	thread TEXT NOT NULL,
	root_event_id TEXT NOT NULL,
	PRIMARY KEY (room_id, thread)
);
CREATE TABLE IF NOT EXISTS session (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	homeserver TEXT NOT NULL,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	access_token TEXT NOT NULL
);
`

// Open opens (creating) the state database ci-notify.db in dir, which is
// created 0700 because the database holds the bot's access token.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "ci-notify.db")
	q := url.Values{}
	// busy_timeout before journal_mode, so that a locked file waits; in the
	// DSN so that every pooled connection gets them.
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: schema: %w", path, err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Apply merges u into its pipeline, creating it, and reports whether the
// pipeline changed (and so needs posting). It returns once committed.
func (s *Store) Apply(ctx context.Context, u cinotify.Update) (Key, bool, error) {
	if err := u.Validate(); err != nil {
		return Key{}, false, err
	}
	k := Key{Repo: u.Repo, Pipeline: u.Pipeline}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return k, false, fmt.Errorf("apply %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	defer tx.Rollback()
	var p cinotify.Pipeline
	var raw string
	var version int64
	err = tx.QueryRowContext(ctx, `SELECT state, version FROM pipelines WHERE repo=? AND pipeline=?`, k.Repo, k.Pipeline).Scan(&raw, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return k, false, fmt.Errorf("apply %s/%s: %w", k.Repo, k.Pipeline, err)
	default:
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return k, false, fmt.Errorf("apply %s/%s: stored state: %w", k.Repo, k.Pipeline, err)
		}
	}
	if !p.Apply(u) {
		return k, false, nil
	}
	b, err := json.Marshal(&p)
	if err != nil {
		return k, false, fmt.Errorf("apply %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO pipelines (repo, pipeline, state, version, updated_at) VALUES (?, ?, ?, 1, ?)
		ON CONFLICT (repo, pipeline) DO UPDATE SET state=excluded.state, version=version+1, updated_at=excluded.updated_at`,
		k.Repo, k.Pipeline, string(b), s.now().UnixMilli())
	if err != nil {
		return k, false, fmt.Errorf("apply %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	if err := tx.Commit(); err != nil {
		return k, false, fmt.Errorf("apply %s/%s: commit: %w", k.Repo, k.Pipeline, err)
	}
	return k, true, nil
}

// Get returns a pipeline's row, or ErrNotFound.
func (s *Store) Get(ctx context.Context, k Key) (*Row, error) {
	r := &Row{Key: k}
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT state, version, posted_version, room_id, event_id, send_attempted, mentioned
		FROM pipelines WHERE repo=? AND pipeline=?`, k.Repo, k.Pipeline).
		Scan(&raw, &r.Version, &r.PostedVersion, &r.RoomID, &r.EventID, &r.SendAttempted, &r.Mentioned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %s/%s: %w", k.Repo, k.Pipeline, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	if err := json.Unmarshal([]byte(raw), &r.State); err != nil {
		return nil, fmt.Errorf("get %s/%s: stored state: %w", k.Repo, k.Pipeline, err)
	}
	return r, nil
}

// Behind lists the pipelines whose message is older than their state, oldest
// change first: the work left after a restart or a failed post.
func (s *Store) Behind(ctx context.Context, limit int) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, pipeline FROM pipelines WHERE version > posted_version ORDER BY updated_at LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list pipelines behind: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.Repo, &k.Pipeline); err != nil {
			return nil, fmt.Errorf("list pipelines behind: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// Lease claims a pipeline for owner until now+d, so that only one process
// posts or edits its message at a time. Renewing one's own lease succeeds;
// another owner's unexpired lease gives ErrLeased.
func (s *Store) Lease(ctx context.Context, k Key, owner string, d time.Duration) error {
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `UPDATE pipelines SET lease_owner=?, lease_until=?
		WHERE repo=? AND pipeline=? AND (lease_owner='' OR lease_owner=? OR lease_until<?)`,
		owner, now+d.Milliseconds(), k.Repo, k.Pipeline, owner, now)
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, k); err != nil {
			return err
		}
		return fmt.Errorf("lease %s/%s: %w", k.Repo, k.Pipeline, ErrLeased)
	}
	return nil
}

// Release gives up owner's lease on a pipeline.
func (s *Store) Release(ctx context.Context, k Key, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE pipelines SET lease_owner='', lease_until=0 WHERE repo=? AND pipeline=? AND lease_owner=?`,
		k.Repo, k.Pipeline, owner)
	if err != nil {
		return fmt.Errorf("release %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	return nil
}

// Prune deletes pipelines whose message is current and that have not
// changed since before; it returns how many went. A report about a pruned
// pipeline starts a new message.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM pipelines WHERE version <= posted_version AND updated_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune pipelines: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SetRoom records the room a pipeline's message goes to.
func (s *Store) SetRoom(ctx context.Context, k Key, roomID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE pipelines SET room_id=? WHERE repo=? AND pipeline=?`, roomID, k.Repo, k.Pipeline); err != nil {
		return fmt.Errorf("set room of %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	return nil
}

// MarkSendAttempted records, before the first send, that the message may
// exist after this point even if the send seems to fail.
func (s *Store) MarkSendAttempted(ctx context.Context, k Key) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE pipelines SET send_attempted=1 WHERE repo=? AND pipeline=?`, k.Repo, k.Pipeline); err != nil {
		return fmt.Errorf("mark send of %s/%s: %w", k.Repo, k.Pipeline, err)
	}
	return nil
}

// MarkPosted records that the message (eventID) now shows version, and
// whether the author has been mentioned. posted_version never goes back.
func (s *Store) MarkPosted(ctx context.Context, k Key, eventID string, version int64, mentioned bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE pipelines SET event_id=?, posted_version=MAX(posted_version, ?),
		mentioned=(mentioned OR ?) WHERE repo=? AND pipeline=?`, eventID, version, mentioned, k.Repo, k.Pipeline)
	if err != nil {
		return fmt.Errorf("mark %s/%s posted: %w", k.Repo, k.Pipeline, err)
	}
	return nil
}

// Room returns the room recorded for a repository, or ErrNotFound.
func (s *Store) Room(ctx context.Context, repo string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT room_id FROM rooms WHERE repo=?`, repo).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("room of %s: %w", repo, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("room of %s: %w", repo, err)
	}
	return id, nil
}

// RepoRooms lists every repository with its room.
func (s *Store) RepoRooms(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, room_id FROM rooms`)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var repo, room string
		if err := rows.Scan(&repo, &room); err != nil {
			return nil, fmt.Errorf("list rooms: %w", err)
		}
		out[repo] = room
	}
	return out, rows.Err()
}

// SetRepoRoom records a repository's room.
func (s *Store) SetRepoRoom(ctx context.Context, repo, roomID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO rooms (repo, room_id) VALUES (?, ?)
		ON CONFLICT (repo) DO UPDATE SET room_id=excluded.room_id`, repo, roomID)
	if err != nil {
		return fmt.Errorf("set room of %s: %w", repo, err)
	}
	return nil
}

// Thread returns the root event of a thread (a branch or pull request) in a
// room, or ErrNotFound.
func (s *Store) Thread(ctx context.Context, roomID, thread string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT root_event_id FROM threads WHERE room_id=? AND thread=?`, roomID, thread).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("thread %s in %s: %w", thread, roomID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("thread %s in %s: %w", thread, roomID, err)
	}
	return id, nil
}

// SetThread records a thread's root event.
func (s *Store) SetThread(ctx context.Context, roomID, thread, rootEventID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO threads (room_id, thread, root_event_id) VALUES (?, ?, ?)
		ON CONFLICT (room_id, thread) DO UPDATE SET root_event_id=excluded.root_event_id`, roomID, thread, rootEventID)
	if err != nil {
		return fmt.Errorf("set thread %s in %s: %w", thread, roomID, err)
	}
	return nil
}

// Session is the bot's Matrix login, kept so that restarts reuse one device
// (transaction IDs are scoped to it, and encryption keys belong to it).
type Session struct {
	Homeserver  string
	UserID      string
	DeviceID    string
	AccessToken string
}

// Session returns the stored session, or ErrNotFound.
func (s *Store) Session(ctx context.Context) (*Session, error) {
	var ss Session
	err := s.db.QueryRowContext(ctx, `SELECT homeserver, user_id, device_id, access_token FROM session WHERE id=1`).
		Scan(&ss.Homeserver, &ss.UserID, &ss.DeviceID, &ss.AccessToken)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return &ss, nil
}

// SetSession stores the session, replacing any.
func (s *Store) SetSession(ctx context.Context, ss Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO session (id, homeserver, user_id, device_id, access_token) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET homeserver=excluded.homeserver, user_id=excluded.user_id,
		device_id=excluded.device_id, access_token=excluded.access_token`,
		ss.Homeserver, ss.UserID, ss.DeviceID, ss.AccessToken)
	if err != nil {
		return fmt.Errorf("set session: %w", err)
	}
	return nil
}

// DB exposes the database for the encryption store, which keeps its own
// tables in the same file.
func (s *Store) DB() *sql.DB { return s.db }
