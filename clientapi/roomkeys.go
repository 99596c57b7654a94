package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"scop/homeserver"
	"scop/homeserver/accounts"
)

// Backups is what the server-side key backup routes need.
type Backups interface {
	CreateBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error)
	Backup(ctx context.Context, userID, version string) (accounts.BackupVersion, error)
	UpdateBackup(ctx context.Context, userID, version, algorithm string, authData json.RawMessage) error
	DeleteBackup(ctx context.Context, userID, version string) error
	PutBackupKeys(ctx context.Context, userID, version string, keys []accounts.BackupKey) (int64, string, error)
	BackupKeys(ctx context.Context, userID, version, roomID, sessionID string) ([]accounts.BackupKey, error)
	DeleteBackupKeys(ctx context.Context, userID, version, roomID, sessionID string) (int64, string, error)
}

// backupRoutes serves server-side key backups (spec: "Server-side key
// backups"): versions and the encrypted room keys in them.
func (ar *accountRoutes) backupRoutes(a *API) {
	a.Handle("POST /room_keys/version", Authed, ar.createBackup)
	a.Handle("GET /room_keys/version", Authed, ar.getBackup)
	a.Handle("GET /room_keys/version/{version}", Authed, ar.getBackup)
	a.Handle("PUT /room_keys/version/{version}", Authed, ar.updateBackup)
	a.Handle("DELETE /room_keys/version/{version}", Authed, ar.deleteBackup)
	for _, p := range []string{"/room_keys/keys", "/room_keys/keys/{roomID}", "/room_keys/keys/{roomID}/{sessionID}"} {
		a.Handle("PUT "+p, Authed, ar.putBackupKeys)
		a.Handle("GET "+p, Authed, ar.getBackupKeys)
		a.Handle("DELETE "+p, Authed, ar.deleteBackupKeys)
	}
}

type backupVersionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   *string         `json:"version"`
}

func (ar *accountRoutes) createBackup(r *http.Request) (any, error) {
	var req backupVersionBody
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	v, err := ar.acc.CreateBackup(r.Context(), MustDevice(r).UserID, req.Algorithm, req.AuthData)
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": v}, nil
}

func (ar *accountRoutes) getBackup(r *http.Request) (any, error) {
	b, err := ar.acc.Backup(r.Context(), MustDevice(r).UserID, r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"algorithm": b.Algorithm, "auth_data": b.AuthData, "count": b.Count,
		"etag": strconv.FormatInt(b.ETag, 10), "version": strconv.FormatInt(b.Version, 10)}, nil
}

func (ar *accountRoutes) updateBackup(r *http.Request) (any, error) {
	var req backupVersionBody
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Version != nil && *req.Version != r.PathValue("version") {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "version in the body does not match the path")
	}
	return struct{}{}, ar.acc.UpdateBackup(r.Context(), MustDevice(r).UserID, r.PathValue("version"), req.Algorithm, req.AuthData)
}

func (ar *accountRoutes) deleteBackup(r *http.Request) (any, error) {
	return struct{}{}, ar.acc.DeleteBackup(r.Context(), MustDevice(r).UserID, r.PathValue("version"))
}

// keyBackupData is the spec's KeyBackupData.
type keyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

type roomKeyBackup struct {
	Sessions map[string]keyBackupData `json:"sessions"`
}

func (d keyBackupData) key(roomID, sessionID string) (accounts.BackupKey, error) {
	if d.FirstMessageIndex == nil || d.ForwardedCount == nil || d.IsVerified == nil || len(d.SessionData) == 0 {
		return accounts.BackupKey{}, homeserver.Errorf(homeserver.ErrMissingParam,
			"Key data needs first_message_index, forwarded_count, is_verified and session_data")
	}
	return accounts.BackupKey{RoomID: roomID, SessionID: sessionID, FirstMessageIndex: *d.FirstMessageIndex,
		ForwardedCount: *d.ForwardedCount, IsVerified: *d.IsVerified, SessionData: d.SessionData}, nil
}

func (ar *accountRoutes) putBackupKeys(r *http.Request) (any, error) {
	room, session := r.PathValue("roomID"), r.PathValue("sessionID")
	rooms := map[string]roomKeyBackup{}
	switch {
	case session != "":
		var d keyBackupData
		if err := DecodeJSON(r, &d); err != nil {
			return nil, err
		}
		rooms[room] = roomKeyBackup{Sessions: map[string]keyBackupData{session: d}}
	case room != "":
		var rk roomKeyBackup
		if err := DecodeJSON(r, &rk); err != nil {
			return nil, err
		}
		rooms[room] = rk
	default:
		var all struct {
			Rooms map[string]roomKeyBackup `json:"rooms"`
		}
		if err := DecodeJSON(r, &all); err != nil {
			return nil, err
		}
		rooms = all.Rooms
	}
	var keys []accounts.BackupKey
	for roomID, rk := range rooms {
		for sessionID, d := range rk.Sessions {
			k, err := d.key(roomID, sessionID)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	count, etag, err := ar.acc.PutBackupKeys(r.Context(), MustDevice(r).UserID, r.URL.Query().Get("version"), keys)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": count, "etag": etag}, nil
}

func (ar *accountRoutes) getBackupKeys(r *http.Request) (any, error) {
	room, session := r.PathValue("roomID"), r.PathValue("sessionID")
	keys, err := ar.acc.BackupKeys(r.Context(), MustDevice(r).UserID, r.URL.Query().Get("version"), room, session)
	if err != nil {
		return nil, err
	}
	data := func(k accounts.BackupKey) keyBackupData {
		return keyBackupData{FirstMessageIndex: &k.FirstMessageIndex, ForwardedCount: &k.ForwardedCount, IsVerified: &k.IsVerified, SessionData: k.SessionData}
	}
	if session != "" {
		if len(keys) == 0 {
			return nil, homeserver.Errorf(homeserver.ErrNotFound, "No backed-up key for this session")
		}
		return data(keys[0]), nil
	}
	rooms := map[string]roomKeyBackup{}
	for _, k := range keys {
		rk, ok := rooms[k.RoomID]
		if !ok {
			rk = roomKeyBackup{Sessions: map[string]keyBackupData{}}
			rooms[k.RoomID] = rk
		}
		rk.Sessions[k.SessionID] = data(k)
	}
	if room != "" {
		if rk, ok := rooms[room]; ok {
			return rk, nil
		}
		return roomKeyBackup{Sessions: map[string]keyBackupData{}}, nil
	}
	return map[string]any{"rooms": rooms}, nil
}

func (ar *accountRoutes) deleteBackupKeys(r *http.Request) (any, error) {
	count, etag, err := ar.acc.DeleteBackupKeys(r.Context(), MustDevice(r).UserID, r.URL.Query().Get("version"), r.PathValue("roomID"), r.PathValue("sessionID"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": count, "etag": etag}, nil
}
