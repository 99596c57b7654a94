package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"scop/homeserver"
)

// BackupVersion is one version of a user's server-side key backup.
type BackupVersion struct {
	Version   int64
	Algorithm string
	AuthData  json.RawMessage
	ETag      int64
	Count     int64
}

// BackupKey is one backed-up room key (its session_data is opaque to the
// server: the client encrypts it).
type BackupKey struct {
	RoomID            string
	SessionID         string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	SessionData       json.RawMessage
}

// BetterBackupKey reports whether k should replace old, by the spec's
// order: verified beats unverified, then a lower first_message_index, then
// a lower forwarded_count.
func BetterBackupKey(k, old BackupKey) bool {
	if k.IsVerified != old.IsVerified {
		return k.IsVerified
	}
	if k.FirstMessageIndex != old.FirstMessageIndex {
		return k.FirstMessageIndex < old.FirstMessageIndex
	}
	return k.ForwardedCount < old.ForwardedCount
}

// BackupStore persists key backups.
type BackupStore interface {
	CreateBackupVersion(ctx context.Context, userID, algorithm string, authData json.RawMessage) (int64, error)
	// BackupVersion returns a live version, the latest when version is 0.
	BackupVersion(ctx context.Context, userID string, version int64) (BackupVersion, error)
	UpdateBackupVersion(ctx context.Context, userID string, version int64, authData json.RawMessage) error
	DeleteBackupVersion(ctx context.Context, userID string, version int64) error
	PutBackupKeys(ctx context.Context, userID string, version int64, keys []BackupKey) error
	BackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]BackupKey, error)
	DeleteBackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) error
}

func (s *Service) backups() (BackupStore, error) {
	bs, ok := s.store.(BackupStore)
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrUnrecognized, "Key backup is not available")
	}
	return bs, nil
}

// parseVersion parses a backup version as the API carries it (a string).
func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, homeserver.Errorf(homeserver.ErrNotFound, "Unknown backup version")
	}
	return n, nil
}

func checkAuthData(algorithm string, authData json.RawMessage) error {
	if algorithm == "" {
		return homeserver.Errorf(homeserver.ErrMissingParam, "algorithm is required")
	}
	if len(authData) == 0 || authData[0] != '{' {
		return homeserver.Errorf(homeserver.ErrBadJSON, "auth_data must be an object")
	}
	return nil
}

// CreateBackup adds a new backup version, which becomes the current one.
func (s *Service) CreateBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error) {
	bs, err := s.backups()
	if err != nil {
		return "", err
	}
	if err := checkAuthData(algorithm, authData); err != nil {
		return "", err
	}
	v, err := bs.CreateBackupVersion(ctx, userID, algorithm, authData)
	if err != nil {
		return "", fmt.Errorf("create backup version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// Backup returns a backup version ("" for the current one) or M_NOT_FOUND.
func (s *Service) Backup(ctx context.Context, userID, version string) (BackupVersion, error) {
	bs, err := s.backups()
	if err != nil {
		return BackupVersion{}, err
	}
	var v int64
	if version != "" {
		if v, err = parseVersion(version); err != nil {
			return BackupVersion{}, err
		}
	}
	b, err := bs.BackupVersion(ctx, userID, v)
	if errors.Is(err, ErrNotFound) {
		return BackupVersion{}, homeserver.Errorf(homeserver.ErrNotFound, "No backup found")
	}
	if err != nil {
		return BackupVersion{}, fmt.Errorf("load backup version: %w", err)
	}
	return b, nil
}

// UpdateBackup replaces a version's auth data; the algorithm cannot change.
func (s *Service) UpdateBackup(ctx context.Context, userID, version, algorithm string, authData json.RawMessage) error {
	b, err := s.Backup(ctx, userID, version)
	if err != nil {
		return err
	}
	if err := checkAuthData(algorithm, authData); err != nil {
		return err
	}
	if algorithm != b.Algorithm {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "The algorithm of a backup version cannot change")
	}
	bs, _ := s.backups()
	return bs.UpdateBackupVersion(ctx, userID, b.Version, authData)
}

// DeleteBackup deletes a version and its keys.
func (s *Service) DeleteBackup(ctx context.Context, userID, version string) error {
	b, err := s.Backup(ctx, userID, version)
	if err != nil {
		return err
	}
	bs, _ := s.backups()
	return bs.DeleteBackupVersion(ctx, userID, b.Version)
}

// currentVersion checks that version names the current backup: writes to
// an older one get M_WRONG_ROOM_KEYS_VERSION with the current version.
func (s *Service) currentVersion(ctx context.Context, userID, version string, write bool) (BackupVersion, error) {
	if version == "" {
		return BackupVersion{}, homeserver.Errorf(homeserver.ErrMissingParam, "version is required")
	}
	if !write {
		return s.Backup(ctx, userID, version)
	}
	cur, err := s.Backup(ctx, userID, "")
	if err != nil {
		return BackupVersion{}, err
	}
	if strconv.FormatInt(cur.Version, 10) != version {
		return BackupVersion{}, &homeserver.Error{Code: homeserver.ErrWrongRoomKeysVer, Message: "Wrong backup version", Status: 403,
			Extra: map[string]any{"current_version": strconv.FormatInt(cur.Version, 10)}}
	}
	return cur, nil
}

// PutBackupKeys stores keys in the current version and returns its new
// count and etag.
func (s *Service) PutBackupKeys(ctx context.Context, userID, version string, keys []BackupKey) (int64, string, error) {
	cur, err := s.currentVersion(ctx, userID, version, true)
	if err != nil {
		return 0, "", err
	}
	for _, k := range keys {
		if k.RoomID == "" || k.SessionID == "" || len(k.SessionData) == 0 || k.SessionData[0] != '{' {
			return 0, "", homeserver.Errorf(homeserver.ErrBadJSON, "Each key needs a room, a session and session_data")
		}
	}
	bs, _ := s.backups()
	if err := bs.PutBackupKeys(ctx, userID, cur.Version, keys); err != nil {
		return 0, "", fmt.Errorf("store backup keys: %w", err)
	}
	b, err := s.Backup(ctx, userID, version)
	if err != nil {
		return 0, "", err
	}
	return b.Count, strconv.FormatInt(b.ETag, 10), nil
}

// BackupKeys returns keys of a version, optionally of one room or session.
func (s *Service) BackupKeys(ctx context.Context, userID, version, roomID, sessionID string) ([]BackupKey, error) {
	b, err := s.currentVersion(ctx, userID, version, false)
	if err != nil {
		return nil, err
	}
	bs, _ := s.backups()
	return bs.BackupKeys(ctx, userID, b.Version, roomID, sessionID)
}

// DeleteBackupKeys deletes keys of the current version and returns its
// new count and etag.
func (s *Service) DeleteBackupKeys(ctx context.Context, userID, version, roomID, sessionID string) (int64, string, error) {
	cur, err := s.currentVersion(ctx, userID, version, true)
	if err != nil {
		return 0, "", err
	}
	bs, _ := s.backups()
	if err := bs.DeleteBackupKeys(ctx, userID, cur.Version, roomID, sessionID); err != nil {
		return 0, "", fmt.Errorf("delete backup keys: %w", err)
	}
	b, err := s.Backup(ctx, userID, version)
	if err != nil {
		return 0, "", err
	}
	return b.Count, strconv.FormatInt(b.ETag, 10), nil
}
