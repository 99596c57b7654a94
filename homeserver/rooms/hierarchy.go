package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

const (
	spaceChildType  = "m.space.child"
	roomTypeSpace   = "m.space"
	hierarchyLimit  = 50   // default rooms per page
	hierarchyMaxLim = 500  // largest page
	hierarchyDepth  = 20   // default and largest max_depth
	hierarchyRooms  = 2000 // rooms walked at most per request
)

// HierarchyRequest is the query of GET /rooms/{roomId}/hierarchy. Limit
// and MaxDepth are -1 when absent.
type HierarchyRequest struct {
	RoomID        string
	SuggestedOnly bool
	Limit         int
	MaxDepth      int
	From          string
}

// HierarchyRoom is one room of a space hierarchy: its directory summary
// and the m.space.child events (stripped, with origin_server_ts) of a space.
type HierarchyRoom struct {
	PublicRoom
	ChildrenState []json.RawMessage `json:"children_state"`
}

// HierarchyResponse is the body of GET /rooms/{roomId}/hierarchy.
type HierarchyResponse struct {
	Rooms     []HierarchyRoom `json:"rooms"`
	NextBatch string          `json:"next_batch,omitempty"`
}

// spaceChild is a valid m.space.child event (non-empty via).
type spaceChild struct {
	roomID    string
	order     string
	suggested bool
	ts        int64
	ev        *Event
}

// Hierarchy walks a space depth-first from req.RoomID over local rooms
// the user may see (joined or invited, world-readable, public, knockable,
// or restricted to a room the user is in), and returns one page of it.
// Only rooms of type m.space have their children followed; rooms this
// server does not know are left out (no federation).
func (s *Service) Hierarchy(ctx context.Context, dev homeserver.Device, req HierarchyRequest) (*HierarchyResponse, error) {
	if err := parseRoomID(req.RoomID); err != nil {
		return nil, err
	}
	limit := req.Limit
	switch {
	case limit == 0:
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "limit must be greater than zero")
	case limit < 0:
		limit = hierarchyLimit
	case limit > hierarchyMaxLim:
		limit = hierarchyMaxLim
	}
	depth := req.MaxDepth
	if depth < 0 || depth > hierarchyDepth {
		depth = hierarchyDepth
	}
	offset := 0
	if req.From != "" {
		n, err := parseHierarchyToken(req.From, req.RoomID, req.SuggestedOnly, depth)
		if err != nil {
			return nil, err
		}
		offset = n
	}
	root, err := s.room(ctx, req.RoomID)
	if err != nil && !errors.Is(err, errNoRoom) {
		return nil, err
	}
	if root == nil || !s.mayPreview(root, dev.UserID) {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "You cannot view room %s", req.RoomID)
	}

	type item struct {
		r     *room
		depth int
	}
	stack := []item{{root, 0}}
	seen := map[string]bool{root.id: true}
	var all []HierarchyRoom
	for len(stack) > 0 && len(all) < offset+limit+1 && len(seen) <= hierarchyRooms {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		hr := HierarchyRoom{PublicRoom: it.r.summary(), ChildrenState: []json.RawMessage{}}
		if hr.RoomType == roomTypeSpace {
			children := spaceChildren(it.r, req.SuggestedOnly)
			for _, c := range children {
				hr.ChildrenState = append(hr.ChildrenState, strippedWithTS(c.ev))
			}
			if it.depth < depth {
				// Push in reverse so the first child is visited next.
				for i := len(children) - 1; i >= 0; i-- {
					id := children[i].roomID
					if seen[id] {
						continue
					}
					cr, err := s.room(ctx, id)
					if err != nil {
						if errors.Is(err, errNoRoom) {
							continue
						}
						return nil, err
					}
					if !s.mayPreview(cr, dev.UserID) {
						continue
					}
					seen[id] = true
					stack = append(stack, item{cr, it.depth + 1})
				}
			}
		}
		all = append(all, hr)
	}
	resp := &HierarchyResponse{Rooms: []HierarchyRoom{}}
	if offset < len(all) {
		end := min(offset+limit, len(all))
		resp.Rooms = all[offset:end]
		if end < len(all) {
			resp.NextBatch = hierarchyToken(end, req.RoomID, req.SuggestedOnly, depth)
		}
	}
	return resp, nil
}

// mayPreview reports whether userID may see r's summary in a hierarchy.
func (s *Service) mayPreview(r *room, userID string) bool {
	switch s.membershipOf(userID, r.id).membership {
	case spec.Join, spec.Invite, spec.Knock:
		return true
	}
	if e := r.stateEvent(spec.MRoomHistoryVisibility, ""); e != nil && historyVisibility(e) == "world_readable" {
		return true
	}
	jr := joinRulesOf(r)
	switch jr.rule {
	case spec.Public, spec.Knock, joinRuleKnockRestricted:
		return true
	case joinRuleRestricted:
		return s.allowedByMembership(jr, userID)
	}
	return false
}

// spaceChildren returns r's valid m.space.child events in the spec's
// order: those with a valid order string first (by order), then by the
// event's origin_server_ts, then by room ID.
func spaceChildren(r *room, suggestedOnly bool) []spaceChild {
	var out []spaceChild
	for _, e := range r.currentState() {
		if e.Type != spaceChildType || e.StateKey == nil || parseRoomID(*e.StateKey) != nil {
			continue
		}
		var c struct {
			Via       []string `json:"via"`
			Order     any      `json:"order"`
			Suggested bool     `json:"suggested"`
		}
		if json.Unmarshal(e.PDU.Content(), &c) != nil || len(c.Via) == 0 {
			continue
		}
		if suggestedOnly && !c.Suggested {
			continue
		}
		sc := spaceChild{roomID: *e.StateKey, suggested: c.Suggested, ts: int64(e.PDU.OriginServerTS()), ev: e}
		if o, ok := c.Order.(string); ok && validOrder(o) {
			sc.order = o
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.order != "") != (b.order != "") {
			return a.order != ""
		}
		if a.order != b.order {
			return a.order < b.order
		}
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		return a.roomID < b.roomID
	})
	return out
}

// validOrder: at most 50 characters in the printable ASCII range.
func validOrder(o string) bool {
	if o == "" || len(o) > 50 {
		return false
	}
	for i := 0; i < len(o); i++ {
		if o[i] < 0x20 || o[i] > 0x7e {
			return false
		}
	}
	return true
}

// strippedWithTS is the stripped state form plus origin_server_ts, as
// children_state requires.
func strippedWithTS(e *Event) json.RawMessage {
	return mustJSON(struct {
		Content        json.RawMessage `json:"content"`
		OriginServerTS spec.Timestamp  `json:"origin_server_ts"`
		Sender         string          `json:"sender"`
		StateKey       string          `json:"state_key"`
		Type           string          `json:"type"`
	}{e.PDU.Content(), e.PDU.OriginServerTS(), e.Sender, *e.StateKey, e.Type})
}

// hierarchyToken encodes the offset with the parameters it is valid for,
// since a page must not change suggested_only or max_depth. The root is
// identified by a short hash so the token stays small.
func hierarchyToken(offset int, roomID string, suggested bool, depth int) string {
	sug := "0"
	if suggested {
		sug = "1"
	}
	return "h" + strconv.Itoa(offset) + "_" + sug + "_" + strconv.Itoa(depth) + "_" + strconv.FormatUint(uint64(fnv32(roomID)), 36)
}

func parseHierarchyToken(tok, roomID string, suggested bool, depth int) (int, error) {
	bad := homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid from token (or suggested_only / max_depth changed since it was issued)")
	parts := strings.Split(strings.TrimPrefix(tok, "h"), "_")
	if !strings.HasPrefix(tok, "h") || len(parts) != 4 {
		return 0, bad
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 0 || n > hierarchyRooms {
		return 0, bad
	}
	if hierarchyToken(n, roomID, suggested, depth) != tok {
		return 0, bad
	}
	return n, nil
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}
