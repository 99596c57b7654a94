package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// Visibility returns "public" or "private" (GET /directory/list/room/{roomId}).
func (s *Service) Visibility(ctx context.Context, roomID string) (string, error) {
	if err := parseRoomID(roomID); err != nil {
		return "", err
	}
	r, err := s.room(ctx, roomID)
	if errors.Is(err, errNoRoom) {
		return "", homeserver.Errorf(homeserver.ErrNotFound, "Unknown room %s", roomID)
	}
	if err != nil {
		return "", err
	}
	r.view.RLock()
	defer r.view.RUnlock()
	if r.published {
		return "public", nil
	}
	return "private", nil
}

// SetVisibility publishes or unpublishes a room in the directory; a
// member who may set m.room.canonical_alias, or a server admin, may.
func (s *Service) SetVisibility(ctx context.Context, dev homeserver.Device, roomID, visibility string) error {
	if visibility != "public" && visibility != "private" {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "visibility must be public or private")
	}
	if _, err := s.Visibility(ctx, roomID); err != nil {
		return err
	}
	if !dev.IsAdmin && !s.canSendState(ctx, dev.UserID, roomID, spec.MRoomCanonicalAlias) {
		return homeserver.Errorf(homeserver.ErrForbidden, "You may not change the directory visibility of %s", roomID)
	}
	r, err := s.room(ctx, roomID)
	if err != nil {
		return err
	}
	return s.setPublished(ctx, r, visibility == "public")
}

// setPublished lists or unlists r in the public room directory.
func (s *Service) setPublished(ctx context.Context, r *room, pub bool) error {
	r, err := s.lockRoom(ctx, r.id)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if err := s.db.SetPublished(ctx, r.nid, pub); err != nil {
		return err
	}
	r.view.Lock()
	r.published = pub
	r.view.Unlock()
	return nil
}

// PublicRoom is one entry of the public room directory.
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// PublicRoomsResponse is the body of /publicRooms.
type PublicRoomsResponse struct {
	Chunk     []PublicRoom `json:"chunk"`
	NextBatch string       `json:"next_batch,omitempty"`
	PrevBatch string       `json:"prev_batch,omitempty"`
	Total     int          `json:"total_room_count_estimate"`
}

// PublicRooms lists the published rooms, largest first, optionally
// filtered by a search term; since is an offset token from next_batch.
func (s *Service) PublicRooms(ctx context.Context, limit int, since, search string) (*PublicRoomsResponse, error) {
	offset := 0
	if since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(since, "o"))
		if err != nil || n < 0 || !strings.HasPrefix(since, "o") {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid since token")
		}
		offset = n
	}
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	ids, err := s.db.PublishedRooms(ctx)
	if err != nil {
		return nil, err
	}
	search = strings.ToLower(strings.TrimSpace(search))
	all := []PublicRoom{}
	for _, id := range ids {
		r, err := s.room(ctx, id)
		if err != nil {
			continue
		}
		pr := r.summary()
		if search != "" && !strings.Contains(strings.ToLower(pr.Name+" "+pr.Topic+" "+pr.CanonicalAlias), search) {
			continue
		}
		all = append(all, pr)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].NumJoinedMembers > all[j].NumJoinedMembers })
	resp := &PublicRoomsResponse{Chunk: []PublicRoom{}, Total: len(all)}
	if offset < len(all) {
		end := min(offset+limit, len(all))
		resp.Chunk = all[offset:end]
		if end < len(all) {
			resp.NextBatch = "o" + strconv.Itoa(end)
		}
	}
	if offset > 0 {
		resp.PrevBatch = "o" + strconv.Itoa(max(offset-limit, 0))
	}
	return resp, nil
}

// summary describes the room for the directory from its committed state.
func (r *room) summary() PublicRoom {
	pr := PublicRoom{RoomID: r.id}
	str := func(typ, field string) string {
		e := r.stateEvent(typ, "")
		if e == nil {
			return ""
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(e.PDU.Content(), &m)
		var v string
		_ = json.Unmarshal(m[field], &v)
		return v
	}
	pr.Name = str(spec.MRoomName, "name")
	pr.Topic = str(spec.MRoomTopic, "topic")
	pr.CanonicalAlias = str(spec.MRoomCanonicalAlias, "alias")
	pr.AvatarURL = str(spec.MRoomAvatar, "url")
	pr.JoinRule = str(spec.MRoomJoinRules, "join_rule")
	pr.RoomType = str(spec.MRoomCreate, "type")
	pr.WorldReadable = str(spec.MRoomHistoryVisibility, "history_visibility") == "world_readable"
	pr.GuestCanJoin = str(spec.MRoomGuestAccess, "guest_access") == "can_join"
	for _, e := range r.currentState() {
		if e.Type == spec.MRoomMember && e.Membership() == spec.Join {
			pr.NumJoinedMembers++
		}
	}
	return pr
}
