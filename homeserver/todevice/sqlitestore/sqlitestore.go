// Package sqlitestore keeps the to-device inboxes (todevice.Store) in
// SQLite, in the "todevice" migration set of the homeserver database.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"

	"scop/homeserver/storage/sqlite"
	"scop/homeserver/todevice"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a todevice.Store on a SQLite database.
type Store struct{ db *sql.DB }

// New applies the "todevice" migrations to db and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "todevice", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Deliver implements todevice.Store.
func (s *Store) Deliver(ctx context.Context, from todevice.Sender, txnID, typ string, to []todevice.Delivery) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("send to device: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO to_device_txns (user_id, device_id, txn_id) VALUES (?, ?, ?)`,
		from.UserID, from.DeviceID, txnID)
	if err != nil {
		return false, fmt.Errorf("send to device: record txn: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	for _, d := range to {
		if _, err := tx.ExecContext(ctx, `INSERT INTO to_device_inbox (user_id, device_id, sender, type, content) VALUES (?, ?, ?, ?, ?)`,
			d.UserID, d.DeviceID, from.UserID, typ, string(d.Content)); err != nil {
			return false, fmt.Errorf("send to device %s/%s: %w", d.UserID, d.DeviceID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("send to device: commit: %w", err)
	}
	return true, nil
}

// Inbox implements todevice.Store.
func (s *Store) Inbox(ctx context.Context, userID, deviceID string, ack int64, limit int) ([]todevice.Message, int64, error) {
	if ack > 0 {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM to_device_inbox WHERE user_id=? AND device_id=? AND pos<=?`,
			userID, deviceID, ack); err != nil {
			return nil, 0, fmt.Errorf("acknowledge to-device messages of %s/%s: %w", userID, deviceID, err)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT pos, sender, type, content FROM to_device_inbox
		WHERE user_id=? AND device_id=? AND pos>? ORDER BY pos LIMIT ?`, userID, deviceID, ack, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read to-device messages of %s/%s: %w", userID, deviceID, err)
	}
	defer rows.Close()
	msgs := []todevice.Message{}
	last := ack
	for rows.Next() {
		var m todevice.Message
		var content string
		if err := rows.Scan(&last, &m.Sender, &m.Type, &content); err != nil {
			return nil, 0, fmt.Errorf("read to-device messages of %s/%s: %w", userID, deviceID, err)
		}
		m.Content = json.RawMessage(content)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read to-device messages of %s/%s: %w", userID, deviceID, err)
	}
	return msgs, last, nil
}

// Pending implements todevice.Store.
func (s *Store) Pending(ctx context.Context, userID, deviceID string, pos int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM to_device_inbox
		WHERE user_id=? AND device_id=? AND pos>? LIMIT 1)`, userID, deviceID, pos).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("pending to-device messages of %s/%s: %w", userID, deviceID, err)
	}
	return n > 0, nil
}
