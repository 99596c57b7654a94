package rooms

import (
	"context"
	"encoding/json"
	"fmt"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// adEntry is one account data event.
type adEntry struct {
	typ     string
	content json.RawMessage
}

func (a adEntry) json() json.RawMessage {
	return mustJSON(struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}{a.typ, a.content})
}

// accountDataSince returns the user's account data changed in (since, pos],
// global and per room. An in-memory high-water mark per user skips the
// database when nothing changed.
func (s *Service) accountDataSince(ctx context.Context, userID string, since, pos int64) ([]adEntry, map[string][]adEntry, error) {
	s.memMu.RLock()
	hw, known := s.adPos[userID]
	s.memMu.RUnlock()
	if known && hw <= since {
		return nil, nil, nil
	}
	rows, err := s.userData.AccountData(ctx, userID, since)
	if err != nil {
		return nil, nil, err
	}
	var global []adEntry
	perRoom := map[string][]adEntry{}
	var top int64
	for _, a := range rows {
		top = max(top, a.Pos)
		if a.Pos > pos {
			continue
		}
		if a.RoomID == "" {
			global = append(global, adEntry{a.Type, a.Content})
		} else {
			perRoom[a.RoomID] = append(perRoom[a.RoomID], adEntry{a.Type, a.Content})
		}
	}
	if !known {
		s.memMu.Lock()
		s.adPos[userID] = max(s.adPos[userID], top)
		s.memMu.Unlock()
	}
	return global, perRoom, nil
}

// SetAccountData stores global (roomID "") or per-room account data.
func (s *Service) SetAccountData(ctx context.Context, dev homeserver.Device, userID, roomID, typ string, content json.RawMessage) error {
	if userID != dev.UserID {
		return homeserver.Errorf(homeserver.ErrForbidden, "Cannot set account data for other users")
	}
	if roomID != "" {
		if err := parseRoomID(roomID); err != nil {
			return err
		}
	}
	if typ == "" || len(typ) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid account data type")
	}
	if typ == "m.fully_read" || typ == "m.push_rules" {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Cannot set %s through the account data API", typ)
	}
	if !isObject(content) {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Account data content must be an object")
	}
	return s.putAccountData(ctx, userID, roomID, typ, content)
}

func (s *Service) putAccountData(ctx context.Context, userID, roomID, typ string, content json.RawMessage) error {
	b := &storage.Batch{AccountData: []storage.AccountData{{UserID: userID, RoomID: roomID, Type: typ, Content: content}}}
	done := s.commit.submit(b, func() {
		s.memMu.Lock()
		s.adPos[userID] = max(s.adPos[userID], b.AccountData[0].Pos)
		if roomID == "" && typ == ignoredListType {
			s.ignoredBy[userID] = parseIgnored(content)
		}
		s.memMu.Unlock()
	})
	return wait(ctx, done)
}

// AccountData returns one account data entry's content.
func (s *Service) AccountData(ctx context.Context, dev homeserver.Device, userID, roomID, typ string) (json.RawMessage, error) {
	if userID != dev.UserID {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Cannot read account data of other users")
	}
	if roomID != "" {
		if err := parseRoomID(roomID); err != nil {
			return nil, err
		}
	}
	rows, err := s.userData.AccountData(ctx, userID, 0)
	if err != nil {
		return nil, err
	}
	for _, a := range rows {
		if a.RoomID == roomID && a.Type == typ {
			return a.Content, nil
		}
	}
	return nil, homeserver.Errorf(homeserver.ErrNotFound, "No account data of type %s", typ)
}

// ignoredListType is the global account data type listing ignored users.
const ignoredListType = "m.ignored_user_list"

// parseIgnored reads an m.ignored_user_list content; malformed content
// ignores nobody.
func parseIgnored(content json.RawMessage) map[string]bool {
	var c struct {
		Ignored map[string]json.RawMessage `json:"ignored_users"`
	}
	_ = json.Unmarshal(content, &c)
	out := make(map[string]bool, len(c.Ignored))
	for u := range c.Ignored {
		out[u] = true
	}
	return out
}

// ignoredUsers returns the users userID ignores, from memory once loaded.
// A write committed while loading wins: the loaded value is kept only if
// the cache is still empty.
func (s *Service) ignoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	s.memMu.RLock()
	ign, ok := s.ignoredBy[userID]
	s.memMu.RUnlock()
	if ok {
		return ign, nil
	}
	rows, err := s.userData.AccountData(ctx, userID, 0)
	if err != nil {
		return nil, fmt.Errorf("load ignored users of %s: %w", userID, err)
	}
	ign = map[string]bool{}
	for _, a := range rows {
		if a.RoomID == "" && a.Type == ignoredListType {
			ign = parseIgnored(a.Content)
		}
	}
	s.memMu.Lock()
	if cur, ok := s.ignoredBy[userID]; ok {
		ign = cur
	} else {
		s.ignoredBy[userID] = ign
	}
	s.memMu.Unlock()
	return ign, nil
}
