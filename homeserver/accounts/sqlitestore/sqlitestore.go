// Package sqlitestore is the SQLite implementation of accounts.Store, with
// its own migration set ("accounts") inside the homeserver database.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"scop/homeserver/accounts"
	"scop/homeserver/storage/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps accounts in SQLite.
type Store struct{ db *sql.DB }

// New migrates the accounts tables of db and returns a store over it.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "accounts", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateUser inserts u, or returns accounts.ErrExists.
func (s *Store) CreateUser(ctx context.Context, u accounts.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts_users(localpart, password_hash, is_admin, display_name, avatar_url, created_ts)
		VALUES (?, ?, ?, ?, ?, ?)`, u.Localpart, u.PasswordHash, b2i(u.IsAdmin), u.DisplayName, u.AvatarURL, u.CreatedTS)
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return accounts.ErrExists
	}
	return err
}

// User loads a user, or returns accounts.ErrNotFound.
func (s *Store) User(ctx context.Context, localpart string) (accounts.User, error) {
	var u accounts.User
	var admin, deactivated int
	err := s.db.QueryRowContext(ctx, `SELECT localpart, password_hash, is_admin, display_name, avatar_url, created_ts, deactivated
		FROM accounts_users WHERE localpart = ?`, localpart).
		Scan(&u.Localpart, &u.PasswordHash, &admin, &u.DisplayName, &u.AvatarURL, &u.CreatedTS, &deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		return u, accounts.ErrNotFound
	}
	u.IsAdmin, u.Deactivated = admin != 0, deactivated != 0
	return u, err
}

func (s *Store) updateUser(ctx context.Context, column, localpart, v string) error {
	// column is one of our constants, never input.
	res, err := s.db.ExecContext(ctx, `UPDATE accounts_users SET `+column+` = ? WHERE localpart = ?`, v, localpart)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return accounts.ErrNotFound
	}
	return nil
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, localpart, hash string) error {
	return s.updateUser(ctx, "password_hash", localpart, hash)
}

// SetDisplayName sets a user's display name.
func (s *Store) SetDisplayName(ctx context.Context, localpart, name string) error {
	return s.updateUser(ctx, "display_name", localpart, name)
}

// SetAvatarURL sets a user's avatar URL.
func (s *Store) SetAvatarURL(ctx context.Context, localpart, url string) error {
	return s.updateUser(ctx, "avatar_url", localpart, url)
}

// Deactivate marks a user deactivated and clears its profile.
func (s *Store) Deactivate(ctx context.Context, localpart string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE accounts_users SET deactivated = 1, display_name = '', avatar_url = ''
		WHERE localpart = ?`, localpart)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return accounts.ErrNotFound
	}
	return nil
}

// PutDevice creates a device or replaces the token of an existing one.
func (s *Store) PutDevice(ctx context.Context, d accounts.Device) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts_devices(user_id, device_id, display_name, token_hash, created_ts, last_seen_ts, last_seen_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(user_id, device_id) DO UPDATE SET token_hash = excluded.token_hash,
			display_name = CASE WHEN excluded.display_name = '' THEN display_name ELSE excluded.display_name END,
			last_seen_ts = excluded.last_seen_ts, last_seen_ip = excluded.last_seen_ip`,
		d.UserID, d.DeviceID, d.DisplayName, d.TokenHash, time.Now().UnixMilli(), d.LastSeenTS, d.LastSeenIP)
	if err != nil {
		return fmt.Errorf("put device: %w", err)
	}
	return nil
}

const deviceCols = `user_id, device_id, display_name, token_hash, last_seen_ts, last_seen_ip`

type scanner interface{ Scan(...any) error }

func scanDevice(r scanner) (accounts.Device, error) {
	var d accounts.Device
	err := r.Scan(&d.UserID, &d.DeviceID, &d.DisplayName, &d.TokenHash, &d.LastSeenTS, &d.LastSeenIP)
	if errors.Is(err, sql.ErrNoRows) {
		return d, accounts.ErrNotFound
	}
	return d, err
}

// DeviceByToken finds the device holding a token hash.
func (s *Store) DeviceByToken(ctx context.Context, hash []byte) (accounts.Device, error) {
	return scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM accounts_devices WHERE token_hash = ?`, hash))
}

// Device loads one device.
func (s *Store) Device(ctx context.Context, userID, deviceID string) (accounts.Device, error) {
	return scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM accounts_devices WHERE user_id = ? AND device_id = ?`, userID, deviceID))
}

// Devices lists a user's devices by ID.
func (s *Store) Devices(ctx context.Context, userID string) ([]accounts.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM accounts_devices WHERE user_id = ? ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accounts.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// TouchDevice records a device's last use.
func (s *Store) TouchDevice(ctx context.Context, userID, deviceID string, ts int64, ip string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE accounts_devices SET last_seen_ts = ?, last_seen_ip = ? WHERE user_id = ? AND device_id = ?`,
		ts, ip, userID, deviceID)
	return err
}

// RenameDevice sets a device's display name.
func (s *Store) RenameDevice(ctx context.Context, userID, deviceID, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE accounts_devices SET display_name = ? WHERE user_id = ? AND device_id = ?`, name, userID, deviceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return accounts.ErrNotFound
	}
	return nil
}

// DeleteDevices deletes devices in one transaction and returns them.
func (s *Store) DeleteDevices(ctx context.Context, userID string, ids []string, keep string) ([]accounts.Device, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []accounts.Device
	if ids == nil {
		rows, err := tx.QueryContext(ctx, `DELETE FROM accounts_devices WHERE user_id = ? AND device_id != ? RETURNING `+deviceCols, userID, keep)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			d, err := scanDevice(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, d := range out {
			if err := deleteDeviceKeys(ctx, tx, d.UserID, d.DeviceID); err != nil {
				return nil, err
			}
		}
		return out, tx.Commit()
	}
	for _, id := range ids {
		if id == keep {
			continue
		}
		d, err := scanDevice(tx.QueryRowContext(ctx, `DELETE FROM accounts_devices WHERE user_id = ? AND device_id = ? RETURNING `+deviceCols, userID, id))
		if errors.Is(err, accounts.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := deleteDeviceKeys(ctx, tx, d.UserID, d.DeviceID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, tx.Commit()
}

// PushRules returns a user's push rule changes (nil when none).
func (s *Store) PushRules(ctx context.Context, userID string) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT rules FROM accounts_push_rules WHERE user_id = ?`, userID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, err
}

// SetPushRules replaces a user's push rule changes.
func (s *Store) SetPushRules(ctx context.Context, userID string, data []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts_push_rules(user_id, rules) VALUES (?, ?)
		ON CONFLICT(user_id) DO UPDATE SET rules = excluded.rules`, userID, string(data))
	return err
}

// SearchUsers finds active users whose localpart or display name contains
// term (case-insensitive), at most limit of them, by localpart.
func (s *Store) SearchUsers(ctx context.Context, term string, limit int) ([]accounts.User, error) {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(term))
	rows, err := s.db.QueryContext(ctx, `SELECT localpart, display_name, avatar_url FROM accounts_users
		WHERE deactivated = 0 AND (localpart LIKE ? ESCAPE '\' OR lower(display_name) LIKE ? ESCAPE '\')
		ORDER BY localpart LIMIT ?`, "%"+esc+"%", "%"+esc+"%", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accounts.User
	for rows.Next() {
		var u accounts.User
		if err := rows.Scan(&u.Localpart, &u.DisplayName, &u.AvatarURL); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
