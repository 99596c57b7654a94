package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"scop/homeserver"
	"scop/homeserver/accounts"
)

// Keys is what the end-to-end encryption key routes need.
type Keys interface {
	UploadKeys(ctx context.Context, dev homeserver.Device, up accounts.KeyUpload) (map[string]int, error)
	QueryKeys(ctx context.Context, query map[string][]string) (map[string]map[string]json.RawMessage, error)
	ClaimKeys(ctx context.Context, claim map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error)
	HasMasterKey(ctx context.Context, userID string) (bool, error)
	UploadCrossSigningKeys(ctx context.Context, userID string, keys map[string]json.RawMessage) error
	CrossSigningKeys(ctx context.Context, caller string, users []string) (map[string]map[string]json.RawMessage, error)
	UploadSignatures(ctx context.Context, caller string, signed map[string]map[string]json.RawMessage) (map[string]map[string]any, error)
	KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error)
}

// DeviceKeyCounts returns, for /sync's device_one_time_keys_count and
// device_unused_fallback_key_types, the device's unclaimed one-time keys
// per algorithm and its algorithms with an unused fallback key (empty
// when no accounts service is registered).
func (a *API) DeviceKeyCounts(ctx context.Context, dev homeserver.Device) (map[string]int, []string, error) {
	if a.keys == nil || dev.DeviceID == "" {
		return map[string]int{}, []string{}, nil
	}
	return a.keys.KeyCounts(ctx, dev.UserID, dev.DeviceID)
}

// keyRoutes serves device key upload, query and claim and cross-signing
// key and signature upload (spec: "End-to-end encryption"). Uploads that
// change a device list are noted for /sync's device_lists (todevice.go).
func (ar *accountRoutes) keyRoutes(a *API) {
	a.keys = ar.acc
	a.Handle("POST /keys/upload", Authed, a.noteKeyChange(ar.uploadKeys, true))
	a.Handle("POST /keys/query", Authed, ar.queryKeys)
	a.Handle("POST /keys/claim", Authed, ar.claimKeys)
	a.Handle("POST /keys/device_signing/upload", Authed, a.noteKeyChange(ar.uploadCrossSigning, false))
	a.Handle("POST /keys/signatures/upload", Authed, ar.uploadSignatures)
}

func (ar *accountRoutes) uploadCrossSigning(r *http.Request) (any, error) {
	var req struct {
		Master      json.RawMessage `json:"master_key"`
		SelfSigning json.RawMessage `json:"self_signing_key"`
		UserSigning json.RawMessage `json:"user_signing_key"`
		Auth        *authDict       `json:"auth"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	d := MustDevice(r)
	// Replacing existing keys needs the password; the first upload does
	// not, as there is nothing yet to protect.
	has, err := ar.acc.HasMasterKey(r.Context(), d.UserID)
	if err != nil {
		return nil, err
	}
	if has {
		ok, resp, err := ar.requirePassword(r, req.Auth, "cross_signing")
		if !ok {
			return resp, err
		}
	}
	keys := map[string]json.RawMessage{}
	for usage, k := range map[string]json.RawMessage{"master": req.Master, "self_signing": req.SelfSigning, "user_signing": req.UserSigning} {
		if len(k) > 0 && string(k) != "null" {
			keys[usage] = k
		}
	}
	return struct{}{}, ar.acc.UploadCrossSigningKeys(r.Context(), d.UserID, keys)
}

func (ar *accountRoutes) uploadSignatures(r *http.Request) (any, error) {
	var req map[string]map[string]json.RawMessage
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	failures, err := ar.acc.UploadSignatures(r.Context(), MustDevice(r).UserID, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"failures": failures}, nil
}

func (ar *accountRoutes) uploadKeys(r *http.Request) (any, error) {
	var req accounts.KeyUpload
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	counts, err := ar.acc.UploadKeys(r.Context(), MustDevice(r), req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"one_time_key_counts": counts}, nil
}

func (ar *accountRoutes) queryKeys(r *http.Request) (any, error) {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.DeviceKeys == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "device_keys is required")
	}
	keys, err := ar.acc.QueryKeys(r.Context(), req.DeviceKeys)
	if err != nil {
		return nil, err
	}
	users := make([]string, 0, len(req.DeviceKeys))
	for u := range req.DeviceKeys {
		users = append(users, u)
	}
	cs, err := ar.acc.CrossSigningKeys(r.Context(), MustDevice(r).UserID, users)
	if err != nil {
		return nil, err
	}
	return map[string]any{"device_keys": keys, "failures": map[string]any{},
		"master_keys": cs["master"], "self_signing_keys": cs["self_signing"], "user_signing_keys": cs["user_signing"]}, nil
}

func (ar *accountRoutes) claimKeys(r *http.Request) (any, error) {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.OneTimeKeys == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "one_time_keys is required")
	}
	keys, err := ar.acc.ClaimKeys(r.Context(), req.OneTimeKeys)
	if err != nil {
		return nil, err
	}
	return map[string]any{"one_time_keys": keys, "failures": map[string]any{}}, nil
}
