package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"scop/homeserver/accounts"
)

// CreateBackupVersion adds a backup version numbered after the user's
// highest (deleted ones included, so numbers are never reused).
func (s *Store) CreateBackupVersion(ctx context.Context, userID, algorithm string, authData json.RawMessage) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM accounts_backup_versions WHERE user_id = ?`, userID).Scan(&v); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_backup_versions(user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)`,
		userID, v, algorithm, string(authData)); err != nil {
		return 0, err
	}
	return v, tx.Commit()
}

// BackupVersion loads a version (the latest live one when version is 0).
func (s *Store) BackupVersion(ctx context.Context, userID string, version int64) (accounts.BackupVersion, error) {
	q := `SELECT version, algorithm, auth_data, etag FROM accounts_backup_versions WHERE user_id = ? AND deleted = 0`
	args := []any{userID}
	if version != 0 {
		q += ` AND version = ?`
		args = append(args, version)
	}
	q += ` ORDER BY version DESC LIMIT 1`
	var b accounts.BackupVersion
	var auth string
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&b.Version, &b.Algorithm, &auth, &b.ETag)
	if errors.Is(err, sql.ErrNoRows) {
		return b, accounts.ErrNotFound
	}
	if err != nil {
		return b, err
	}
	b.AuthData = json.RawMessage(auth)
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts_backup_keys WHERE user_id = ? AND version = ?`, userID, b.Version).Scan(&b.Count)
	return b, err
}

// UpdateBackupVersion replaces a live version's auth data.
func (s *Store) UpdateBackupVersion(ctx context.Context, userID string, version int64, authData json.RawMessage) error {
	res, err := s.db.ExecContext(ctx, `UPDATE accounts_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0`,
		string(authData), userID, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return accounts.ErrNotFound
	}
	return nil
}

// DeleteBackupVersion marks a version deleted and drops its keys.
func (s *Store) DeleteBackupVersion(ctx context.Context, userID string, version int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE accounts_backup_versions SET deleted = 1 WHERE user_id = ? AND version = ? AND deleted = 0`, userID, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return accounts.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_backup_keys WHERE user_id = ? AND version = ?`, userID, version); err != nil {
		return err
	}
	return tx.Commit()
}

// PutBackupKeys stores keys in a version, keeping an existing key over a
// new one unless the new one is better (accounts.BetterBackupKey), and
// bumps the version's etag when anything changed.
func (s *Store) PutBackupKeys(ctx context.Context, userID string, version int64, keys []accounts.BackupKey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	changed := false
	for _, k := range keys {
		var old accounts.BackupKey
		var verified int
		err := tx.QueryRowContext(ctx, `SELECT first_message_index, forwarded_count, is_verified FROM accounts_backup_keys
			WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`, userID, version, k.RoomID, k.SessionID).
			Scan(&old.FirstMessageIndex, &old.ForwardedCount, &verified)
		old.IsVerified = verified != 0
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case !accounts.BetterBackupKey(k, old):
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_backup_keys(user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, version, room_id, session_id) DO UPDATE SET
			first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
			is_verified = excluded.is_verified, session_data = excluded.session_data`,
			userID, version, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, b2i(k.IsVerified), string(k.SessionData)); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?`, userID, version); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BackupKeys lists a version's keys, optionally of one room or session.
func (s *Store) BackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]accounts.BackupKey, error) {
	q := `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM accounts_backup_keys
		WHERE user_id = ? AND version = ?`
	args := []any{userID, version}
	if roomID != "" {
		q += ` AND room_id = ?`
		args = append(args, roomID)
	}
	if sessionID != "" {
		q += ` AND session_id = ?`
		args = append(args, sessionID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY room_id, session_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accounts.BackupKey
	for rows.Next() {
		var k accounts.BackupKey
		var verified int
		var data string
		if err := rows.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &verified, &data); err != nil {
			return nil, err
		}
		k.IsVerified, k.SessionData = verified != 0, json.RawMessage(data)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteBackupKeys deletes a version's keys, optionally of one room or session.
func (s *Store) DeleteBackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) error {
	q := `DELETE FROM accounts_backup_keys WHERE user_id = ? AND version = ?`
	args := []any{userID, version}
	if roomID != "" {
		q += ` AND room_id = ?`
		args = append(args, roomID)
	}
	if sessionID != "" {
		q += ` AND session_id = ?`
		args = append(args, sessionID)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?`, userID, version); err != nil {
			return err
		}
	}
	return tx.Commit()
}
