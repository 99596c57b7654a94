package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"scop/homeserver"
)

// CrossSigningStore persists users' cross-signing keys, by usage
// ("master", "self_signing", "user_signing").
type CrossSigningStore interface {
	CrossSigningKeys(ctx context.Context, userID string) (map[string]json.RawMessage, error)
	PutCrossSigningKeys(ctx context.Context, userID string, keys map[string]json.RawMessage) error
}

// crossSigningKey is the spec's CrossSigningKey object.
type crossSigningKey struct {
	UserID     string                       `json:"user_id"`
	Usage      []string                     `json:"usage"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures,omitempty"`
}

func (s *Service) crossSigning() (CrossSigningStore, KeyStore, error) {
	cs, ok1 := s.store.(CrossSigningStore)
	ks, ok2 := s.store.(KeyStore)
	if !ok1 || !ok2 {
		return nil, nil, homeserver.Errorf(homeserver.ErrUnrecognized, "Key storage is not available")
	}
	return cs, ks, nil
}

// HasMasterKey reports whether the user has uploaded a master key; the
// first upload needs no user-interactive auth (the spec allows this, as
// there is nothing yet to protect).
func (s *Service) HasMasterKey(ctx context.Context, userID string) (bool, error) {
	cs, _, err := s.crossSigning()
	if err != nil {
		return false, err
	}
	keys, err := cs.CrossSigningKeys(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("load cross-signing keys of %s: %w", userID, err)
	}
	_, ok := keys["master"]
	return ok, nil
}

// UploadCrossSigningKeys stores the user's cross-signing keys: keys maps
// usage to the key object, which must name the user and that usage and
// hold exactly one key.
func (s *Service) UploadCrossSigningKeys(ctx context.Context, userID string, keys map[string]json.RawMessage) error {
	cs, _, err := s.crossSigning()
	if err != nil {
		return err
	}
	for usage, raw := range keys {
		var k crossSigningKey
		if err := json.Unmarshal(raw, &k); err != nil {
			return homeserver.Errorf(homeserver.ErrBadJSON, "%s_key: %v", usage, err)
		}
		if k.UserID != userID {
			return homeserver.Errorf(homeserver.ErrInvalidParam, "%s_key must be for the uploading user", usage)
		}
		if !slices.Contains(k.Usage, usage) {
			return homeserver.Errorf(homeserver.ErrInvalidParam, "%s_key must have usage %q", usage, usage)
		}
		if len(k.Keys) != 1 {
			return homeserver.Errorf(homeserver.ErrInvalidParam, "%s_key must hold exactly one key", usage)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if _, hasMaster := keys["master"]; !hasMaster {
		if ok, err := s.HasMasterKey(ctx, userID); err != nil {
			return err
		} else if !ok {
			return homeserver.Errorf(homeserver.ErrInvalidParam, "Upload a master key first")
		}
	}
	if err := cs.PutCrossSigningKeys(ctx, userID, keys); err != nil {
		return fmt.Errorf("store cross-signing keys of %s: %w", userID, err)
	}
	return nil
}

// CrossSigningKeys returns the cross-signing keys of local users the
// caller may see: master and self-signing keys of everyone asked for, the
// user-signing key only of the caller.
func (s *Service) CrossSigningKeys(ctx context.Context, caller string, users []string) (map[string]map[string]json.RawMessage, error) {
	cs, _, err := s.crossSigning()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]json.RawMessage{"master": {}, "self_signing": {}, "user_signing": {}}
	for _, u := range users {
		local, ok := s.Localpart(u)
		if !ok || len(u) == 0 || u[0] != '@' {
			continue
		}
		keys, err := cs.CrossSigningKeys(ctx, s.UserID(local))
		if err != nil {
			return nil, fmt.Errorf("load cross-signing keys of %s: %w", u, err)
		}
		for usage, k := range keys {
			if usage == "user_signing" && u != caller {
				continue
			}
			if m, ok := out[usage]; ok {
				m[u] = k
			}
		}
	}
	return out, nil
}

// UploadSignatures merges the signatures of signed objects into the
// stored device keys and cross-signing keys they sign. signed maps user ID
// → key ID (a device ID or a cross-signing public key) → the signed
// object. The caller may sign its own keys and others' master keys.
// Failures are returned per user and key, as the spec's answer wants.
// SCoP stores the signatures without verifying them; clients verify.
func (s *Service) UploadSignatures(ctx context.Context, caller string, signed map[string]map[string]json.RawMessage) (map[string]map[string]any, error) {
	cs, ks, err := s.crossSigning()
	if err != nil {
		return nil, err
	}
	failures := map[string]map[string]any{}
	fail := func(user, key, code, msg string) {
		if failures[user] == nil {
			failures[user] = map[string]any{}
		}
		failures[user][key] = map[string]string{"errcode": code, "error": msg}
	}
	for user, objs := range signed {
		local, ok := s.Localpart(user)
		if !ok || len(user) == 0 || user[0] != '@' {
			for key := range objs {
				fail(user, key, homeserver.ErrNotFound, "Not a local user")
			}
			continue
		}
		userID := s.UserID(local)
		csKeys, err := cs.CrossSigningKeys(ctx, userID)
		if err != nil {
			return nil, err
		}
		for _, keyID := range slices.Sorted(maps.Keys(objs)) {
			var incoming crossSigningKey
			if err := json.Unmarshal(objs[keyID], &incoming); err != nil || len(incoming.Signatures) == 0 {
				fail(user, keyID, homeserver.ErrInvalidParam, "Not a signed key object")
				continue
			}
			// A cross-signing key of the user, named by its public key?
			usage := ""
			for u, raw := range csKeys {
				var k crossSigningKey
				if json.Unmarshal(raw, &k) == nil {
					for _, pub := range k.Keys {
						if pub == keyID {
							usage = u
						}
					}
				}
			}
			if usage != "" {
				if userID != caller && usage != "master" {
					fail(user, keyID, homeserver.ErrForbidden, "Only another user's master key can be signed")
					continue
				}
				merged, err := mergeSignatures(csKeys[usage], incoming.Signatures)
				if err != nil {
					fail(user, keyID, homeserver.ErrInvalidParam, err.Error())
					continue
				}
				csKeys[usage] = merged
				if err := cs.PutCrossSigningKeys(ctx, userID, map[string]json.RawMessage{usage: merged}); err != nil {
					return nil, err
				}
				continue
			}
			if userID != caller {
				fail(user, keyID, homeserver.ErrForbidden, "Only your own devices can be signed")
				continue
			}
			devKeys, err := ks.DeviceKeys(ctx, userID, []string{keyID})
			if err != nil {
				return nil, err
			}
			cur, ok := devKeys[keyID]
			if !ok {
				fail(user, keyID, homeserver.ErrNotFound, "Unknown device or key")
				continue
			}
			merged, err := mergeSignatures(cur, incoming.Signatures)
			if err != nil {
				fail(user, keyID, homeserver.ErrInvalidParam, err.Error())
				continue
			}
			if err := ks.PutDeviceKeys(ctx, userID, keyID, merged); err != nil {
				return nil, err
			}
		}
	}
	return failures, nil
}

// mergeSignatures adds sigs to the signatures of the key object stored.
func mergeSignatures(stored json.RawMessage, sigs map[string]map[string]string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(stored, &obj); err != nil {
		return nil, fmt.Errorf("stored key is not an object")
	}
	cur := map[string]map[string]string{}
	if raw, ok := obj["signatures"]; ok {
		json.Unmarshal(raw, &cur)
	}
	for signer, m := range sigs {
		if cur[signer] == nil {
			cur[signer] = map[string]string{}
		}
		maps.Copy(cur[signer], m)
	}
	var err error
	if obj["signatures"], err = json.Marshal(cur); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}
