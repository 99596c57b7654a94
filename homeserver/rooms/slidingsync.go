package rooms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// Simplified sliding sync (MSC4186): POST
// /_matrix/client/unstable/org.matrix.simplified_msc3575/sync. This file
// holds the request and response shapes and the request parser; the
// connection store is in slidingsync_conn.go and the response builder in
// slidingsync_build.go.

// Bounds on a request, so that one client cannot make the server hold or
// compute without limit.
const (
	maxSlidingLists         = 64
	maxSlidingRanges        = 32
	maxSlidingRequiredState = 256
	maxSlidingSubscriptions = 512
	maxSlidingTimelineLimit = 100
	maxSlidingConnIDLen     = 128
	maxSlidingFilterItems   = 64
	// maxSlidingSubStateBytes bounds the required_state (counted by
	// bytes()) of the subscriptions a connection keeps: Element X's dozen
	// entries for each of maxSlidingSubscriptions rooms fit easily.
	maxSlidingSubStateBytes = 512 << 10
)

// SlidingRequest is a parsed sliding sync request.
type SlidingRequest struct {
	// Pos is the ?pos= of the previous response, "" to start a connection.
	Pos string `json:"-"`
	// Timeout is how long to wait for changes when nothing is new.
	Timeout time.Duration `json:"-"`
	// Parked, when set, is called with true when the request starts
	// waiting for changes and with false when it stops (for metrics).
	Parked func(waiting bool) `json:"-"`

	// BodyPos and BodyTimeout are pos and timeout (ms) in the body, where
	// the MSC's latest revision moves them; the query parameters win.
	BodyPos     string `json:"pos,omitempty"`
	BodyTimeout *int64 `json:"timeout,omitempty"`
	// SetPresence is set_presence ("" for the default, online).
	SetPresence string `json:"set_presence,omitempty"`

	ConnID            string                       `json:"conn_id"`
	TxnID             string                       `json:"txn_id,omitempty"`
	Lists             map[string]SlidingList       `json:"lists"`
	RoomSubscriptions map[string]SlidingRoomConfig `json:"room_subscriptions"`
	// UnsubscribeRooms ends subscriptions of earlier requests: a
	// subscription stays on the connection until then, as matrix-js-sdk
	// sends each only once (clients that repeat them lose nothing).
	UnsubscribeRooms []string                 `json:"unsubscribe_rooms"`
	Extensions       SlidingExtensionsRequest `json:"extensions"`
}

// SlidingRoomConfig is what a client wants of each room of a list or of a
// subscription.
type SlidingRoomConfig struct {
	RequiredState RequiredState `json:"required_state"`
	TimelineLimit *int          `json:"timeline_limit"`
}

// SlidingList is one named list of the request.
type SlidingList struct {
	SlidingRoomConfig
	Ranges [][]int64 `json:"ranges"`
	// Range is the single range of the MSC's latest revision.
	Range   []int64         `json:"range,omitempty"`
	Filters *SlidingFilters `json:"filters"`
}

// SlidingFilters select the rooms of a list; unset fields select all.
type SlidingFilters struct {
	IsDM         *bool      `json:"is_dm"`
	IsInvite     *bool      `json:"is_invite"`
	IsInvited    *bool      `json:"is_invited,omitempty"` // the latest revision's name
	IsEncrypted  *bool      `json:"is_encrypted"`
	RoomTypes    *[]*string `json:"room_types"` // a null entry is a room without type
	NotRoomTypes []*string  `json:"not_room_types"`
	RoomNameLike string     `json:"room_name_like"`
	Spaces       *[]string  `json:"spaces"`
	Tags         *[]string  `json:"tags"`
	NotTags      []string   `json:"not_tags"`
}

// SlidingExtensionsRequest enables the extensions.
type SlidingExtensionsRequest struct {
	ToDevice    *SlidingToDeviceRequest `json:"to_device"`
	E2EE        *SlidingToggle          `json:"e2ee"`
	AccountData *SlidingScopedExtension `json:"account_data"`
	Receipts    *SlidingScopedExtension `json:"receipts"`
	Typing      *SlidingScopedExtension `json:"typing"`
}

// SlidingToggle is an extension with only an enabled flag.
type SlidingToggle struct {
	Enabled *bool `json:"enabled"`
}

// On reports whether the extension is enabled.
func (t *SlidingToggle) On() bool { return t != nil && t.Enabled != nil && *t.Enabled }

// SlidingToDeviceRequest is the to_device extension request.
type SlidingToDeviceRequest struct {
	SlidingToggle
	Since string `json:"since"`
	Limit *int   `json:"limit"`
}

// On reports whether the extension is enabled (false when absent).
func (t *SlidingToDeviceRequest) On() bool { return t != nil && t.SlidingToggle.On() }

// SlidingScopedExtension is an extension that applies to some rooms: those
// of the named lists and the named rooms ("*": all), all rooms of the
// response when both are absent.
type SlidingScopedExtension struct {
	SlidingToggle
	Lists *[]string `json:"lists"`
	Rooms *[]string `json:"rooms"`
}

// On reports whether the extension is enabled (false when absent).
func (t *SlidingScopedExtension) On() bool { return t != nil && t.SlidingToggle.On() }

// SlidingResponse is the response body.
type SlidingResponse struct {
	Pos        string                       `json:"pos"`
	TxnID      string                       `json:"txn_id,omitempty"`
	Lists      map[string]SlidingListResult `json:"lists"`
	Rooms      map[string]*SlidingRoom      `json:"rooms"`
	Extensions SlidingExtensions            `json:"extensions"`
}

// SlidingListResult is a list's entry in the response.
type SlidingListResult struct {
	Count int `json:"count"`
}

// SlidingHero is a member shown for a room without a name.
type SlidingHero struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// SlidingRoom is one room of the response: everything on its first
// appearance in the connection (Initial), what changed afterwards.
type SlidingRoom struct {
	Name             string          `json:"name,omitempty"`
	Avatar           json.RawMessage `json:"avatar,omitempty"` // a URL, or null when removed
	Heroes           []SlidingHero   `json:"heroes,omitempty"`
	IsDM             bool            `json:"is_dm,omitempty"`
	Initial          bool            `json:"initial,omitempty"`
	ExpandedTimeline bool            `json:"expanded_timeline,omitempty"`
	// UnstableExpanded is expanded_timeline under the name deployed
	// clients (matrix-rust-sdk) read.
	UnstableExpanded  bool              `json:"unstable_expanded_timeline,omitempty"`
	Membership        string            `json:"membership,omitempty"`
	InLists           []string          `json:"lists,omitempty"`
	RequiredState     []json.RawMessage `json:"required_state,omitempty"`
	Timeline          []json.RawMessage `json:"timeline,omitempty"`
	PrevBatch         string            `json:"prev_batch,omitempty"`
	Limited           bool              `json:"limited,omitempty"`
	NumLive           *int              `json:"num_live,omitempty"`
	BumpStamp         int64             `json:"bump_stamp"`
	JoinedCount       *int              `json:"joined_count,omitempty"`
	InvitedCount      *int              `json:"invited_count,omitempty"`
	NotificationCount *int              `json:"notification_count,omitempty"`
	HighlightCount    *int              `json:"highlight_count,omitempty"`
	InviteState       []json.RawMessage `json:"invite_state,omitempty"`
	KnockState        []json.RawMessage `json:"knock_state,omitempty"`
}

// SlidingExtensions is the extensions section. ToDevice and E2EE are
// filled by the layer that owns them (a SlidingHook).
type SlidingExtensions struct {
	ToDevice    any                    `json:"to_device,omitempty"`
	E2EE        any                    `json:"e2ee,omitempty"`
	AccountData *SlidingAccountData    `json:"account_data,omitempty"`
	Receipts    *SlidingEphemeralRooms `json:"receipts,omitempty"`
	Typing      *SlidingEphemeralRooms `json:"typing,omitempty"`
}

// SlidingAccountData is the account_data extension response.
type SlidingAccountData struct {
	Global []json.RawMessage            `json:"global"`
	Rooms  map[string][]json.RawMessage `json:"rooms"`
}

// SlidingEphemeralRooms is the receipts or typing extension response: one
// m.receipt or m.typing event per room.
type SlidingEphemeralRooms struct {
	Rooms map[string]json.RawMessage `json:"rooms"`
}

// ParseSlidingRequest decodes a request body: M_NOT_JSON for malformed
// JSON, M_BAD_JSON for wrong types, M_INVALID_PARAM for values out of
// range. Unknown fields are ignored, as everywhere in the Matrix API, so
// that clients sending newer fields keep working.
func ParseSlidingRequest(body []byte) (*SlidingRequest, error) {
	req := &SlidingRequest{}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	if !json.Valid(body) {
		return nil, homeserver.Errorf(homeserver.ErrNotJSON, "Request body is not JSON")
	}
	if t := bytes.TrimSpace(body); t[0] != '{' {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Request body must be a JSON object")
	}
	if err := json.Unmarshal(body, req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Wrong type for %s", te.Field)
		}
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Invalid request: %v", err)
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return req, nil
}

func invalid(format string, args ...any) error {
	return homeserver.Errorf(homeserver.ErrInvalidParam, format, args...)
}

func (req *SlidingRequest) validate() error {
	if len(req.ConnID) > maxSlidingConnIDLen {
		return invalid("conn_id is too long")
	}
	if req.BodyTimeout != nil && *req.BodyTimeout < 0 {
		return invalid("timeout must not be negative")
	}
	if req.SetPresence != "" && !ValidPresence(req.SetPresence) {
		return invalid("set_presence must be online, offline or unavailable")
	}
	if len(req.BodyPos) > 255 {
		return invalid("pos is too long")
	}
	if len(req.TxnID) > 255 {
		return invalid("txn_id is too long")
	}
	if len(req.Lists) > maxSlidingLists {
		return invalid("Too many lists (at most %d)", maxSlidingLists)
	}
	total := 0
	for name, l := range req.Lists {
		total += l.RequiredState.len()
		if total > 4*maxSlidingRequiredState {
			// Each room of a list merges its list's entries: bound the sum.
			return invalid("Too many required_state entries over all lists")
		}
		if name == "" || len(name) > 64 {
			return invalid("Invalid list name %q", name)
		}
		if err := l.SlidingRoomConfig.validate(); err != nil {
			return fmt.Errorf("list %s: %w", name, err)
		}
		if len(l.Ranges) > maxSlidingRanges {
			return invalid("List %s has too many ranges", name)
		}
		if l.Range != nil {
			if len(l.Range) != 2 {
				return invalid("List %s: range is [start, end]", name)
			}
			l.Ranges, l.Range = append(l.Ranges, l.Range), nil
			req.Lists[name] = l
		}
		for _, r := range l.Ranges {
			if len(r) != 2 || r[0] < 0 || r[1] < r[0] {
				return invalid("List %s: a range is two indexes [start, end] with 0 <= start <= end", name)
			}
		}
		if err := l.Filters.validate(); err != nil {
			return fmt.Errorf("list %s: %w", name, err)
		}
		if f := l.Filters; f != nil && f.IsInvite == nil && f.IsInvited != nil {
			f.IsInvite = f.IsInvited
		}
		if f := l.Filters; f != nil {
			f.IsInvited = nil
		}
	}
	if len(req.RoomSubscriptions) > maxSlidingSubscriptions {
		return invalid("Too many room subscriptions (at most %d)", maxSlidingSubscriptions)
	}
	for id, c := range req.RoomSubscriptions {
		if _, err := spec.NewRoomID(id); err != nil || len(id) > 255 {
			return invalid("Invalid room ID %q in room_subscriptions", id)
		}
		if err := c.validate(); err != nil {
			return fmt.Errorf("room subscription %s: %w", id, err)
		}
	}
	subBytes := 0
	for _, c := range req.RoomSubscriptions {
		subBytes += c.RequiredState.bytes()
	}
	if subBytes > maxSlidingSubStateBytes {
		return invalid("The room subscriptions' required_state is too large")
	}
	if len(req.UnsubscribeRooms) > maxSlidingSubscriptions {
		return invalid("Too many rooms in unsubscribe_rooms")
	}
	x := req.Extensions
	if td := x.ToDevice; td != nil {
		if td.Limit != nil && *td.Limit < 0 {
			return invalid("to_device limit must not be negative")
		}
		if td.Since != "" && !isDecimal(td.Since) {
			return invalid("Invalid to_device since token %q", td.Since)
		}
	}
	for _, s := range []*SlidingScopedExtension{x.AccountData, x.Receipts, x.Typing} {
		if s == nil {
			continue
		}
		if (s.Lists != nil && len(*s.Lists) > maxSlidingLists) || (s.Rooms != nil && len(*s.Rooms) > maxSlidingSubscriptions) {
			return invalid("Too many lists or rooms in an extension")
		}
	}
	return nil
}

func (c *SlidingRoomConfig) validate() error {
	if c.RequiredState.len() > maxSlidingRequiredState {
		return invalid("Too many required_state entries (at most %d)", maxSlidingRequiredState)
	}
	for _, e := range slices.Concat(c.RequiredState.Include, c.RequiredState.Exclude) {
		if len(e) != 2 {
			return invalid("A required_state entry is [event type, state key]")
		}
		if len(e[0]) > 255 || len(e[1]) > 255 || e[0] == "" {
			return invalid("Invalid required_state entry %q", e)
		}
	}
	if c.TimelineLimit != nil && *c.TimelineLimit < 0 {
		return invalid("timeline_limit must not be negative")
	}
	return nil
}

func (f *SlidingFilters) validate() error {
	if f == nil {
		return nil
	}
	n := len(f.NotRoomTypes) + len(f.NotTags)
	for _, l := range []*[]string{f.Spaces, f.Tags} {
		if l != nil {
			n += len(*l)
		}
	}
	if f.RoomTypes != nil {
		n += len(*f.RoomTypes)
	}
	if n > maxSlidingFilterItems || len(f.RoomNameLike) > 255 {
		return invalid("Filters are too large")
	}
	return nil
}

func isDecimal(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// timelineLimit is the configured limit, capped.
func (c *SlidingRoomConfig) timelineLimit() int {
	if c.TimelineLimit == nil {
		return 0
	}
	return min(*c.TimelineLimit, maxSlidingTimelineLimit)
}
