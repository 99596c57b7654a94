package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"scop/homeserver"
)

// tagType is the room account data type holding a user's room tags.
const tagType = "m.tag"

// tagContent is the content of an m.tag account data event. Each tag's
// object is kept as sent so fields beyond order survive.
type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

// Tags returns the user's tags on a room as the m.tag content
// ({"tags":{...}}), empty when the room has none.
func (s *Service) Tags(ctx context.Context, dev homeserver.Device, userID, roomID string) (json.RawMessage, error) {
	tags, err := s.loadTags(ctx, dev, userID, roomID)
	if err != nil {
		return nil, err
	}
	return mustJSON(tagContent{tags}), nil
}

// SetTag adds or replaces one tag on a room for the user. content is the
// tag's object; its order, when present, must be a number.
func (s *Service) SetTag(ctx context.Context, dev homeserver.Device, userID, roomID, tag string, content json.RawMessage) error {
	if err := checkTagName(tag); err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(content, &body); err != nil || body == nil {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Tag content must be an object")
	}
	if o, ok := body["order"]; ok {
		var f float64
		if err := json.Unmarshal(o, &f); err != nil {
			return homeserver.Errorf(homeserver.ErrBadJSON, "Tag order must be a number")
		}
	}
	return s.updateTags(ctx, dev, userID, roomID, func(tags map[string]json.RawMessage) {
		tags[tag] = content
	})
}

// DeleteTag removes one tag from a room for the user; removing an absent
// tag succeeds.
func (s *Service) DeleteTag(ctx context.Context, dev homeserver.Device, userID, roomID, tag string) error {
	if err := checkTagName(tag); err != nil {
		return err
	}
	return s.updateTags(ctx, dev, userID, roomID, func(tags map[string]json.RawMessage) {
		delete(tags, tag)
	})
}

func checkTagName(tag string) error {
	if tag == "" || len(tag) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid tag name")
	}
	return nil
}

// updateTags applies edit to the stored tags and stores the result as a
// new m.tag event, so sync delivers the change.
func (s *Service) updateTags(ctx context.Context, dev homeserver.Device, userID, roomID string, edit func(map[string]json.RawMessage)) error {
	s.tagMu.Lock()
	defer s.tagMu.Unlock()
	tags, err := s.loadTags(ctx, dev, userID, roomID)
	if err != nil {
		return err
	}
	edit(tags)
	if err := s.putAccountData(ctx, userID, roomID, tagType, mustJSON(tagContent{tags})); err != nil {
		return fmt.Errorf("store tags of %s in %s: %w", userID, roomID, err)
	}
	return nil
}

// loadTags checks the caller and returns the stored tags (never nil).
func (s *Service) loadTags(ctx context.Context, dev homeserver.Device, userID, roomID string) (map[string]json.RawMessage, error) {
	if userID != dev.UserID {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Cannot access the tags of other users")
	}
	if err := parseRoomID(roomID); err != nil {
		return nil, err
	}
	raw, err := s.AccountData(ctx, dev, userID, roomID, tagType)
	var he *homeserver.Error
	if errors.As(err, &he) && he.Code == homeserver.ErrNotFound {
		return map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c tagContent
	// Content set through the generic account data API may not have the
	// expected shape; such content counts as no tags rather than an error.
	if json.Unmarshal(raw, &c) != nil || c.Tags == nil {
		return map[string]json.RawMessage{}, nil
	}
	return c.Tags, nil
}
