// Package sqlitestore is the SQLite implementation of push.Store, with
// its own migration set ("push") inside the homeserver database.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"scop/homeserver/push"
	"scop/homeserver/storage/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps pushers and the pusher worker's position in SQLite.
type Store struct{ db *sql.DB }

// New migrates the push tables of db and returns a store over it.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "push", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Pushers lists every pusher.
func (s *Store) Pushers(ctx context.Context) ([]push.Pusher, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, app_id, pushkey, kind, app_display_name,
		device_display_name, profile_tag, lang, data, pushkey_ts FROM pushers ORDER BY user_id, pushkey_ts`)
	if err != nil {
		return nil, fmt.Errorf("pushers: %w", err)
	}
	defer rows.Close()
	var out []push.Pusher
	for rows.Next() {
		var p push.Pusher
		var data string
		if err := rows.Scan(&p.UserID, &p.AppID, &p.PushKey, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName,
			&p.ProfileTag, &p.Lang, &data, &p.PushKeyTS); err != nil {
			return nil, fmt.Errorf("pushers: %w", err)
		}
		p.Data = []byte(data)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pushers: %w", err)
	}
	return out, nil
}

// SetPusher inserts or replaces a pusher in one transaction.
func (s *Store) SetPusher(ctx context.Context, p push.Pusher, appendOK bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set pusher: %w", err)
	}
	defer tx.Rollback()
	if !appendOK {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id != ?`,
			p.AppID, p.PushKey, p.UserID); err != nil {
			return fmt.Errorf("set pusher: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name,
		device_display_name, profile_tag, lang, data, pushkey_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = excluded.kind,
		app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
		profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data`,
		p.UserID, p.AppID, p.PushKey, p.Kind, p.AppDisplayName, p.DeviceDisplayName, p.ProfileTag, p.Lang,
		string(p.Data), p.PushKeyTS); err != nil {
		return fmt.Errorf("set pusher: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set pusher: %w", err)
	}
	return nil
}

// DeletePusher removes one user's pusher (no error when there is none).
func (s *Store) DeletePusher(ctx context.Context, userID, appID, pushkey string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?`,
		userID, appID, pushkey); err != nil {
		return fmt.Errorf("delete pusher: %w", err)
	}
	return nil
}

// Position returns the worker's stored stream position.
func (s *Store) Position(ctx context.Context) (int64, bool, error) {
	var pos int64
	err := s.db.QueryRowContext(ctx, `SELECT pos FROM pusher_position WHERE id = 1`).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("pusher position: %w", err)
	}
	return pos, true, nil
}

// SetPosition stores the worker's position.
func (s *Store) SetPosition(ctx context.Context, pos int64) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pusher_position (id, pos) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET pos = excluded.pos`, pos); err != nil {
		return fmt.Errorf("store pusher position: %w", err)
	}
	return nil
}
