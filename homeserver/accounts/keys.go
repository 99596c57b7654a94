package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"scop/homeserver"
)

// ErrKeyConflict is returned by a KeyStore when a one-time key ID is
// uploaded again with different content.
var ErrKeyConflict = errors.New("one-time key conflict")

// OneTimeKey is one uploaded one-time or fallback key.
type OneTimeKey struct {
	Algorithm string
	KeyID     string
	Key       json.RawMessage
}

// KeyStore persists devices' end-to-end encryption keys. Keys of a device
// go when the device is deleted.
type KeyStore interface {
	PutDeviceKeys(ctx context.Context, userID, deviceID string, keys json.RawMessage) error
	// DeviceKeys returns the identity keys of the given devices of a
	// user (all devices when deviceIDs is empty), by device ID.
	DeviceKeys(ctx context.Context, userID string, deviceIDs []string) (map[string]json.RawMessage, error)
	// AddOneTimeKeys stores keys; an existing ID with identical content is
	// ignored, with other content it is ErrKeyConflict.
	AddOneTimeKeys(ctx context.Context, userID, deviceID string, keys []OneTimeKey) error
	// PutFallbackKeys replaces the fallback key of each algorithm.
	PutFallbackKeys(ctx context.Context, userID, deviceID string, keys []OneTimeKey) error
	// ClaimKey removes and returns a one-time key of algorithm, or else
	// returns (and marks used) the fallback key; ok is false when neither.
	ClaimKey(ctx context.Context, userID, deviceID, algorithm string) (k OneTimeKey, ok bool, err error)
	// KeyCounts returns the unclaimed one-time keys per algorithm and the
	// algorithms with an unused fallback key.
	KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error)
}

// splitKeyID splits "algorithm:key_id".
func splitKeyID(id string) (string, string, error) {
	alg, kid, ok := strings.Cut(id, ":")
	if !ok || alg == "" || kid == "" {
		return "", "", homeserver.Errorf(homeserver.ErrInvalidParam, "Key ID %q is not algorithm:id", id)
	}
	return alg, kid, nil
}

// KeyUpload is the body of POST /keys/upload.
type KeyUpload struct {
	DeviceKeys   json.RawMessage            `json:"device_keys"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
}

// UploadKeys stores a device's keys and returns its one-time key counts.
func (s *Service) UploadKeys(ctx context.Context, dev homeserver.Device, up KeyUpload) (map[string]int, error) {
	ks, ok := s.store.(KeyStore)
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrUnrecognized, "Key storage is not available")
	}
	if dev.DeviceID == "" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Keys belong to a device; this access token has none")
	}
	if len(up.DeviceKeys) > 0 && !bytes.Equal(up.DeviceKeys, []byte("null")) {
		var dk struct {
			UserID     string            `json:"user_id"`
			DeviceID   string            `json:"device_id"`
			Algorithms []string          `json:"algorithms"`
			Keys       map[string]string `json:"keys"`
		}
		if err := json.Unmarshal(up.DeviceKeys, &dk); err != nil {
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "device_keys: %v", err)
		}
		if dk.UserID != dev.UserID || dk.DeviceID != dev.DeviceID {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "device_keys must be for this user and device")
		}
		if len(dk.Keys) == 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "device_keys.keys is empty")
		}
		if err := ks.PutDeviceKeys(ctx, dev.UserID, dev.DeviceID, up.DeviceKeys); err != nil {
			return nil, fmt.Errorf("store device keys: %w", err)
		}
	}
	parse := func(m map[string]json.RawMessage) ([]OneTimeKey, error) {
		var out []OneTimeKey
		for id, k := range m {
			alg, kid, err := splitKeyID(id)
			if err != nil {
				return nil, err
			}
			if !json.Valid(k) || len(k) == 0 || k[0] != '{' && k[0] != '"' {
				return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Key %s must be a string or an object", id)
			}
			out = append(out, OneTimeKey{Algorithm: alg, KeyID: kid, Key: k})
		}
		return out, nil
	}
	otks, err := parse(up.OneTimeKeys)
	if err != nil {
		return nil, err
	}
	fbks, err := parse(up.FallbackKeys)
	if err != nil {
		return nil, err
	}
	if len(otks) > 0 {
		if err := ks.AddOneTimeKeys(ctx, dev.UserID, dev.DeviceID, otks); err != nil {
			if errors.Is(err, ErrKeyConflict) {
				return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "A one-time key with this ID already exists with other content")
			}
			return nil, fmt.Errorf("store one-time keys: %w", err)
		}
	}
	if len(fbks) > 0 {
		if err := ks.PutFallbackKeys(ctx, dev.UserID, dev.DeviceID, fbks); err != nil {
			return nil, fmt.Errorf("store fallback keys: %w", err)
		}
	}
	counts, _, err := ks.KeyCounts(ctx, dev.UserID, dev.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("count keys: %w", err)
	}
	return counts, nil
}

// QueryKeys returns the identity keys of local users' devices: for each
// user the listed devices, or all of them when the list is empty. Each
// key object gets unsigned.device_display_name. Other servers' users are
// left out (no federation yet).
func (s *Service) QueryKeys(ctx context.Context, query map[string][]string) (map[string]map[string]json.RawMessage, error) {
	ks, ok := s.store.(KeyStore)
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrUnrecognized, "Key storage is not available")
	}
	out := map[string]map[string]json.RawMessage{}
	for user, devices := range query {
		local, ok := s.Localpart(user)
		if !ok || !strings.HasPrefix(user, "@") {
			continue
		}
		keys, err := ks.DeviceKeys(ctx, s.UserID(local), devices)
		if err != nil {
			return nil, fmt.Errorf("load keys of %s: %w", user, err)
		}
		m := map[string]json.RawMessage{}
		for dev, k := range keys {
			if d, err := s.store.Device(ctx, s.UserID(local), dev); err == nil && d.DisplayName != "" {
				k = withDisplayName(k, d.DisplayName)
			}
			m[dev] = k
		}
		out[user] = m
	}
	return out, nil
}

// withDisplayName adds unsigned.device_display_name to a key object.
func withDisplayName(k json.RawMessage, name string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(k, &obj) != nil {
		return k
	}
	var unsigned map[string]any
	if u, ok := obj["unsigned"]; ok {
		json.Unmarshal(u, &unsigned)
	}
	if unsigned == nil {
		unsigned = map[string]any{}
	}
	unsigned["device_display_name"] = name
	obj["unsigned"], _ = json.Marshal(unsigned)
	out, err := json.Marshal(obj)
	if err != nil {
		return k
	}
	return out
}

// ClaimKeys claims one key per requested local device and algorithm:
// result[user][device]["alg:id"] = key.
func (s *Service) ClaimKeys(ctx context.Context, claim map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	ks, ok := s.store.(KeyStore)
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrUnrecognized, "Key storage is not available")
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	for user, devices := range claim {
		local, ok := s.Localpart(user)
		if !ok || !strings.HasPrefix(user, "@") {
			continue
		}
		for dev, alg := range devices {
			k, found, err := ks.ClaimKey(ctx, s.UserID(local), dev, alg)
			if err != nil {
				return nil, fmt.Errorf("claim key of %s %s: %w", user, dev, err)
			}
			if !found {
				continue
			}
			if out[user] == nil {
				out[user] = map[string]map[string]json.RawMessage{}
			}
			out[user][dev] = map[string]json.RawMessage{k.Algorithm + ":" + k.KeyID: k.Key}
		}
	}
	return out, nil
}

// KeyCounts returns a device's unclaimed one-time keys per algorithm and
// its algorithms with an unused fallback key, for /sync's
// device_one_time_keys_count and device_unused_fallback_key_types.
func (s *Service) KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error) {
	ks, ok := s.store.(KeyStore)
	if !ok {
		return map[string]int{}, []string{}, nil
	}
	return ks.KeyCounts(ctx, userID, deviceID)
}
