package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"scop/homeserver/accounts"
)

// PutDeviceKeys stores a device's identity keys.
func (s *Store) PutDeviceKeys(ctx context.Context, userID, deviceID string, keys json.RawMessage) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts_device_keys(user_id, device_id, key_json) VALUES (?, ?, ?)
		ON CONFLICT(user_id, device_id) DO UPDATE SET key_json = excluded.key_json`, userID, deviceID, string(keys))
	return err
}

// DeviceKeys returns identity keys by device ID.
func (s *Store) DeviceKeys(ctx context.Context, userID string, deviceIDs []string) (map[string]json.RawMessage, error) {
	q := `SELECT device_id, key_json FROM accounts_device_keys WHERE user_id = ?`
	args := []any{userID}
	if len(deviceIDs) > 0 {
		q += ` AND device_id IN (?` + strings.Repeat(",?", len(deviceIDs)-1) + `)`
		for _, d := range deviceIDs {
			args = append(args, d)
		}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var dev, k string
		if err := rows.Scan(&dev, &k); err != nil {
			return nil, err
		}
		out[dev] = json.RawMessage(k)
	}
	return out, rows.Err()
}

// AddOneTimeKeys stores one-time keys in one transaction.
func (s *Store) AddOneTimeKeys(ctx context.Context, userID, deviceID string, keys []accounts.OneTimeKey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, k := range keys {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT key_json FROM accounts_one_time_keys
			WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?`, userID, deviceID, k.Algorithm, k.KeyID).Scan(&old)
		switch {
		case err == nil:
			if !jsonEqual([]byte(old), k.Key) {
				return accounts.ErrKeyConflict
			}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_one_time_keys(user_id, device_id, algorithm, key_id, key_json)
			VALUES (?, ?, ?, ?, ?)`, userID, deviceID, k.Algorithm, k.KeyID, string(k.Key)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// jsonEqual compares two JSON values ignoring formatting.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ma, _ := json.Marshal(x)
	mb, _ := json.Marshal(y)
	return bytes.Equal(ma, mb)
}

// PutFallbackKeys replaces fallback keys per algorithm.
func (s *Store) PutFallbackKeys(ctx context.Context, userID, deviceID string, keys []accounts.OneTimeKey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_fallback_keys(user_id, device_id, algorithm, key_id, key_json, used)
			VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(user_id, device_id, algorithm) DO UPDATE SET
			key_id = excluded.key_id, key_json = excluded.key_json, used = 0`, userID, deviceID, k.Algorithm, k.KeyID, string(k.Key)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ClaimKey takes a one-time key, else the fallback key.
func (s *Store) ClaimKey(ctx context.Context, userID, deviceID, algorithm string) (accounts.OneTimeKey, bool, error) {
	k := accounts.OneTimeKey{Algorithm: algorithm}
	var js string
	err := s.db.QueryRowContext(ctx, `DELETE FROM accounts_one_time_keys WHERE rowid = (
			SELECT rowid FROM accounts_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1)
		RETURNING key_id, key_json`, userID, deviceID, algorithm).Scan(&k.KeyID, &js)
	if err == nil {
		k.Key = json.RawMessage(js)
		return k, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return k, false, err
	}
	err = s.db.QueryRowContext(ctx, `UPDATE accounts_fallback_keys SET used = 1
		WHERE user_id = ? AND device_id = ? AND algorithm = ? RETURNING key_id, key_json`, userID, deviceID, algorithm).Scan(&k.KeyID, &js)
	if errors.Is(err, sql.ErrNoRows) {
		return k, false, nil
	}
	if err != nil {
		return k, false, err
	}
	k.Key = json.RawMessage(js)
	return k, true, nil
}

// KeyCounts counts unclaimed one-time keys and unused fallback keys.
func (s *Store) KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error) {
	counts := map[string]int{}
	rows, err := s.db.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM accounts_one_time_keys
		WHERE user_id = ? AND device_id = ? GROUP BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		counts[alg] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	fb := []string{}
	rows, err = s.db.QueryContext(ctx, `SELECT algorithm FROM accounts_fallback_keys
		WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, nil, err
		}
		fb = append(fb, alg)
	}
	return counts, fb, rows.Err()
}

// deleteDeviceKeys removes every key of a device inside tx.
func deleteDeviceKeys(ctx context.Context, tx *sql.Tx, userID, deviceID string) error {
	for _, table := range []string{"accounts_device_keys", "accounts_one_time_keys", "accounts_fallback_keys"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = ? AND device_id = ?`, userID, deviceID); err != nil {
			return err
		}
	}
	return nil
}

// CrossSigningKeys returns a user's cross-signing keys by usage.
func (s *Store) CrossSigningKeys(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT usage, key_json FROM accounts_cross_signing_keys WHERE user_id = ?`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var usage, k string
		if err := rows.Scan(&usage, &k); err != nil {
			return nil, err
		}
		out[usage] = json.RawMessage(k)
	}
	return out, rows.Err()
}

// PutCrossSigningKeys stores keys by usage in one transaction.
func (s *Store) PutCrossSigningKeys(ctx context.Context, userID string, keys map[string]json.RawMessage) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for usage, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_cross_signing_keys(user_id, usage, key_json) VALUES (?, ?, ?)
			ON CONFLICT(user_id, usage) DO UPDATE SET key_json = excluded.key_json`, userID, usage, string(k)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
