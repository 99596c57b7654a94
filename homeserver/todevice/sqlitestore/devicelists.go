package sqlitestore

import (
	"context"
	"fmt"
)

// RecordDeviceListChange implements todevice.Store.
func (s *Store) RecordDeviceListChange(ctx context.Context, userID string) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO device_list_changes (user_id) VALUES (?)`, userID); err != nil {
		return fmt.Errorf("record device list change of %s: %w", userID, err)
	}
	return nil
}

// DeviceListPos implements todevice.Store.
func (s *Store) DeviceListPos(ctx context.Context) (int64, error) {
	var pos int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(pos), 0) FROM device_list_changes`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("device list position: %w", err)
	}
	return pos, nil
}

// DeviceListChanges implements todevice.Store.
func (s *Store) DeviceListChanges(ctx context.Context, from, to int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT user_id FROM device_list_changes WHERE pos>? AND pos<=? ORDER BY user_id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("device list changes: %w", err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("device list changes: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device list changes: %w", err)
	}
	return users, nil
}
