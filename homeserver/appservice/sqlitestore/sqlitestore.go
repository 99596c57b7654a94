// Package sqlitestore is the SQLite implementation of appservice.Store,
// with its own migration set ("appservice") inside the homeserver
// database.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"scop/homeserver/appservice"
	"scop/homeserver/storage/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps application service delivery positions in SQLite.
type Store struct{ db *sql.DB }

// New migrates the appservice tables of db and returns a store over it.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "appservice", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// State returns the stored delivery state of an application service.
func (s *Store) State(ctx context.Context, asID string) (appservice.State, bool, error) {
	var st appservice.State
	err := s.db.QueryRowContext(ctx, `SELECT pos, pending_id, pending, pending_end FROM appservice_positions WHERE as_id = ?`, asID).
		Scan(&st.Pos, &st.PendingID, &st.Pending, &st.PendingEnd)
	if errors.Is(err, sql.ErrNoRows) {
		return appservice.State{}, false, nil
	}
	if err != nil {
		return appservice.State{}, false, fmt.Errorf("appservice state of %s: %w", asID, err)
	}
	return st, true, nil
}

// SetPosition stores the position and forgets any pending transaction
// (durably: the database is in synchronous=FULL mode).
func (s *Store) SetPosition(ctx context.Context, asID string, pos int64) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO appservice_positions(as_id, pos) VALUES (?, ?)
		ON CONFLICT(as_id) DO UPDATE SET pos = excluded.pos, pending_id = '', pending = NULL, pending_end = 0`, asID, pos); err != nil {
		return fmt.Errorf("store appservice position of %s: %w", asID, err)
	}
	return nil
}

// SetPending records the transaction about to be sent.
func (s *Store) SetPending(ctx context.Context, asID, txnID string, body []byte, end int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE appservice_positions SET pending_id = ?, pending = ?, pending_end = ? WHERE as_id = ?`,
		txnID, body, end, asID)
	if err != nil {
		return fmt.Errorf("store appservice transaction of %s: %w", asID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store appservice transaction of %s: no position stored", asID)
	}
	return nil
}
