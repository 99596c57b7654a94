package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// EventFilter is the spec's EventFilter (account_data, presence).
type EventFilter struct {
	Limit      *int      `json:"limit,omitempty"`
	Types      *[]string `json:"types,omitempty"`
	NotTypes   []string  `json:"not_types,omitempty"`
	Senders    *[]string `json:"senders,omitempty"`
	NotSenders []string  `json:"not_senders,omitempty"`
}

// RoomEventFilter is the spec's RoomEventFilter (timeline, state, messages).
type RoomEventFilter struct {
	EventFilter
	Rooms                   *[]string `json:"rooms,omitempty"`
	NotRooms                []string  `json:"not_rooms,omitempty"`
	LazyLoadMembers         bool      `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers bool      `json:"include_redundant_members,omitempty"`
	ContainsURL             *bool     `json:"contains_url,omitempty"`
	UnreadThreadNotifs      bool      `json:"unread_thread_notifications,omitempty"`

	// ignored holds the requesting user's ignored users, whose non-state
	// events are left out (set by the server, never from JSON).
	ignored map[string]bool
}

// withIgnored returns f extended to leave out the non-state events of the
// ignored users; f itself is not changed.
func (f *RoomEventFilter) withIgnored(ignored map[string]bool) *RoomEventFilter {
	if len(ignored) == 0 {
		return f
	}
	var c RoomEventFilter
	if f != nil {
		c = *f
	}
	c.ignored = ignored
	return &c
}

// RoomFilter is the spec's RoomFilter.
type RoomFilter struct {
	Rooms        *[]string        `json:"rooms,omitempty"`
	NotRooms     []string         `json:"not_rooms,omitempty"`
	IncludeLeave bool             `json:"include_leave,omitempty"`
	Timeline     *RoomEventFilter `json:"timeline,omitempty"`
	State        *RoomEventFilter `json:"state,omitempty"`
	Ephemeral    *RoomEventFilter `json:"ephemeral,omitempty"`
	AccountData  *RoomEventFilter `json:"account_data,omitempty"`
}

// Filter is a sync filter (POST /user/{userId}/filter).
type Filter struct {
	EventFields []string     `json:"event_fields,omitempty"`
	EventFormat string       `json:"event_format,omitempty"`
	AccountData *EventFilter `json:"account_data,omitempty"`
	Presence    *EventFilter `json:"presence,omitempty"`
	Room        *RoomFilter  `json:"room,omitempty"`
}

// ParseFilter decodes and validates a filter: M_NOT_JSON for malformed
// JSON, M_BAD_JSON for wrong types or values.
func ParseFilter(data []byte) (*Filter, error) {
	if !json.Valid(data) {
		return nil, homeserver.Errorf(homeserver.ErrNotJSON, "Filter is not JSON")
	}
	var f Filter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Invalid filter: %v", err)
	}
	switch f.EventFormat {
	case "", "client", "federation":
	default:
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Invalid event_format %q", f.EventFormat)
	}
	checkLimit := func(l *int) error {
		if l != nil && *l < 0 {
			return homeserver.Errorf(homeserver.ErrBadJSON, "Negative limit")
		}
		return nil
	}
	if f.Room != nil {
		for _, rf := range []*RoomEventFilter{f.Room.Timeline, f.Room.State, f.Room.Ephemeral, f.Room.AccountData} {
			if rf != nil {
				if err := checkLimit(rf.Limit); err != nil {
					return nil, err
				}
			}
		}
	}
	return &f, nil
}

// matchType reports whether typ matches pattern, where '*' matches any
// run of characters.
func matchType(pattern, typ string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == typ
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(typ, parts[0]) {
		return false
	}
	typ = typ[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(typ, p)
		}
		idx := strings.Index(typ, p)
		if idx < 0 {
			return false
		}
		typ = typ[idx+len(p):]
	}
	return true
}

func anyMatch(patterns []string, typ string) bool {
	for _, p := range patterns {
		if matchType(p, typ) {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// allows reports whether the event passes the filter (nil allows all).
func (f *EventFilter) allows(typ, sender string) bool {
	if f == nil {
		return true
	}
	if anyMatch(f.NotTypes, typ) || contains(f.NotSenders, sender) {
		return false
	}
	if f.Types != nil && !anyMatch(*f.Types, typ) {
		return false
	}
	if f.Senders != nil && !contains(*f.Senders, sender) {
		return false
	}
	return true
}

func (f *RoomEventFilter) allowsEvent(e *Event) bool {
	if f == nil {
		return true
	}
	if !f.EventFilter.allows(e.Type, e.Sender) {
		return false
	}
	if f.ignored[e.Sender] && !e.IsState() {
		return false
	}
	if f.ContainsURL != nil {
		var c struct {
			URL *string `json:"url"`
		}
		_ = json.Unmarshal(e.PDU.Content(), &c)
		if (c.URL != nil) != *f.ContainsURL {
			return false
		}
	}
	return true
}

func (f *RoomEventFilter) allowsRoom(roomID string) bool {
	if f == nil {
		return true
	}
	return !contains(f.NotRooms, roomID) && (f.Rooms == nil || contains(*f.Rooms, roomID))
}

func (f *RoomEventFilter) restricts() bool {
	return f != nil && (f.Types != nil || len(f.NotTypes) > 0 || f.Senders != nil || len(f.NotSenders) > 0 || f.ContainsURL != nil ||
		len(f.ignored) > 0)
}

func (f *RoomEventFilter) limit(def, max int) int {
	if f == nil || f.Limit == nil {
		return def
	}
	if *f.Limit == 0 {
		return def
	}
	return min(*f.Limit, max)
}

// CreateFilter stores a filter for the user (POST /user/{userId}/filter).
func (s *Service) CreateFilter(ctx context.Context, dev homeserver.Device, userID string, data []byte) (string, error) {
	if userID != dev.UserID {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "Cannot create filters for other users")
	}
	f, err := ParseFilter(data)
	if err != nil {
		return "", err
	}
	canon, _ := json.Marshal(f)
	return s.userData.CreateFilter(ctx, userID, canon)
}

// GetFilter returns a stored filter.
func (s *Service) GetFilter(ctx context.Context, dev homeserver.Device, userID, filterID string) (json.RawMessage, error) {
	if userID != dev.UserID {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Cannot read other users' filters")
	}
	f, err := s.userData.Filter(ctx, userID, filterID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "No such filter")
	}
	return f, err
}

// resolveFilter turns the sync filter parameter (an ID or inline JSON)
// into a filter.
func (s *Service) resolveFilter(ctx context.Context, userID, param string) (*Filter, error) {
	param = strings.TrimSpace(param)
	if param == "" {
		return &Filter{}, nil
	}
	if strings.HasPrefix(param, "{") {
		return ParseFilter([]byte(param))
	}
	data, err := s.userData.Filter(ctx, userID, param)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "No such filter %q", param)
	}
	if err != nil {
		return nil, err
	}
	return ParseFilter(data)
}
