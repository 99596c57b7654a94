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
}

// keyRoutes serves device key upload, query and claim (spec: "End-to-end
// encryption", "Key management API"). Cross-signing, key backup,
// /keys/changes and to-device messages are not served yet.
func (ar *accountRoutes) keyRoutes(a *API) {
	a.Handle("POST /keys/upload", Authed, ar.uploadKeys)
	a.Handle("POST /keys/query", Authed, ar.queryKeys)
	a.Handle("POST /keys/claim", Authed, ar.claimKeys)
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
	return map[string]any{"device_keys": keys, "failures": map[string]any{}}, nil
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
