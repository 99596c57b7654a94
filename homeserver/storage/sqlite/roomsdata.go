package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"scop/homeserver/storage"
)

// CreateAlias implements storage.AliasDB.
func (s *RoomsStore) CreateAlias(ctx context.Context, alias, roomID, creator string) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO room_aliases(alias, room_id, creator) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		alias, roomID, creator)
	if err != nil {
		return fmt.Errorf("create alias %s: %w", alias, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrConflict
	}
	return nil
}

// Alias implements storage.AliasDB.
func (s *RoomsStore) Alias(ctx context.Context, alias string) (string, string, error) {
	var roomID, creator string
	err := s.db.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias=?`, alias).Scan(&roomID, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", storage.ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("alias %s: %w", alias, err)
	}
	return roomID, creator, nil
}

// DeleteAlias implements storage.AliasDB.
func (s *RoomsStore) DeleteAlias(ctx context.Context, alias string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias=?`, alias)
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", alias, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// RoomAliases implements storage.AliasDB.
func (s *RoomsStore) RoomAliases(ctx context.Context, roomID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT alias FROM room_aliases WHERE room_id=? ORDER BY alias`, roomID)
	if err != nil {
		return nil, fmt.Errorf("room aliases: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("room aliases: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CreateFilter implements storage.UserDataDB.
func (s *RoomsStore) CreateFilter(ctx context.Context, userID string, filter []byte) (string, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO sync_filters(user_id, filter) VALUES (?, ?)`, userID, filter)
	if err != nil {
		return "", fmt.Errorf("create filter: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return "", fmt.Errorf("create filter: %w", err)
	}
	return strconv.FormatInt(id, 10), nil
}

// Filter implements storage.UserDataDB.
func (s *RoomsStore) Filter(ctx context.Context, userID, filterID string) ([]byte, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(filterID), 10, 64)
	if err != nil {
		return nil, storage.ErrNotFound
	}
	var f []byte
	err = s.db.QueryRowContext(ctx, `SELECT filter FROM sync_filters WHERE filter_id=? AND user_id=?`, id, userID).Scan(&f)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return f, nil
}

// AccountData implements storage.UserDataDB.
func (s *RoomsStore) AccountData(ctx context.Context, userID string, since int64) ([]storage.AccountData, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room_id, type, content, pos FROM account_data WHERE user_id=? AND pos>? ORDER BY pos`,
		userID, since)
	if err != nil {
		return nil, fmt.Errorf("account data: %w", err)
	}
	defer rows.Close()
	var out []storage.AccountData
	for rows.Next() {
		a := storage.AccountData{UserID: userID}
		if err := rows.Scan(&a.RoomID, &a.Type, &a.Content, &a.Pos); err != nil {
			return nil, fmt.Errorf("account data: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
