package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// roomRoutes serves the room endpoints on top of the rooms service.
type roomRoutes struct {
	svc *rooms.Service
	api *API
}

// RegisterRooms registers the room, state, membership, messages, alias,
// sync, filter, account data and typing endpoints.
func (a *API) RegisterRooms(svc *rooms.Service) {
	rr := &roomRoutes{svc: svc, api: a}
	a.Handle("POST /createRoom", Authed, rr.createRoom)
	a.Handle("POST /join/{roomIDOrAlias}", Authed, rr.join)
	a.Handle("POST /rooms/{roomID}/join", Authed, rr.join)
	a.Handle("POST /rooms/{roomID}/leave", Authed, rr.leave)
	a.Handle("POST /rooms/{roomID}/forget", Authed, rr.forget)
	a.Handle("POST /rooms/{roomID}/invite", Authed, rr.membership(svc.Invite))
	a.Handle("POST /rooms/{roomID}/kick", Authed, rr.membership(svc.Kick))
	a.Handle("POST /rooms/{roomID}/ban", Authed, rr.membership(svc.Ban))
	a.Handle("POST /rooms/{roomID}/unban", Authed, rr.membership(svc.Unban))
	a.Handle("PUT /rooms/{roomID}/send/{eventType}/{txnID}", Authed, rr.send, RateLimit("send"))
	a.Handle("PUT /rooms/{roomID}/state/{eventType}", Authed, rr.putState, RateLimit("send"))
	a.Handle("PUT /rooms/{roomID}/state/{eventType}/{stateKey...}", Authed, rr.putState, RateLimit("send"))
	a.Handle("GET /rooms/{roomID}/state/{eventType}", Authed, rr.getState)
	a.Handle("GET /rooms/{roomID}/state/{eventType}/{stateKey...}", Authed, rr.getState)
	a.Handle("GET /rooms/{roomID}/state", Authed, rr.allState)
	a.Handle("GET /rooms/{roomID}/members", Authed, rr.members)
	a.Handle("GET /rooms/{roomID}/joined_members", Authed, rr.joinedMembers)
	a.Handle("GET /joined_rooms", Authed, rr.joinedRooms)
	a.Handle("GET /rooms/{roomID}/event/{eventID}", Authed, rr.event)
	a.Handle("GET /rooms/{roomID}/context/{eventID}", Authed, rr.context)
	a.Handle("GET /rooms/{roomID}/messages", Authed, rr.messages)
	a.Handle("PUT /rooms/{roomID}/redact/{eventID}/{txnID}", Authed, rr.redact, RateLimit("send"))
	a.Handle("PUT /rooms/{roomID}/typing/{userID}", Authed, rr.typing)
	a.Handle("GET /rooms/{roomID}/aliases", Authed, rr.roomAliases)
	a.Handle("PUT /directory/room/{alias}", Authed, rr.putAlias)
	a.Handle("GET /directory/room/{alias}", Public, rr.getAlias)
	a.Handle("DELETE /directory/room/{alias}", Authed, rr.deleteAlias)
	rr.syncRoutes(a)
	rr.receiptRoutes(a)
	rr.directoryRoutes(a)
	rr.relationRoutes(a)
	rr.searchRoutes(a)
	rr.slidingSyncRoutes(a)
	rr.knockRoutes(a)
	rr.hierarchyRoutes(a)
	rr.upgradeRoutes(a)
}

// decodeObject reads a JSON object body: M_NOT_JSON if malformed,
// M_BAD_JSON if not an object.
func decodeObject(r *http.Request) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := DecodeJSON(r, &raw); err != nil {
		return nil, err
	}
	if t := strings.TrimSpace(string(raw)); !strings.HasPrefix(t, "{") {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Content must be a JSON object")
	}
	return raw, nil
}

func (rr *roomRoutes) createRoom(r *http.Request) (any, error) {
	var req rooms.CreateRoomRequest
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	id, err := rr.svc.CreateRoom(r.Context(), MustDevice(r), req)
	if err != nil {
		return nil, err
	}
	return map[string]string{"room_id": id}, nil
}

type reasonBody struct {
	Reason string `json:"reason"`
	UserID string `json:"user_id"`
}

func (rr *roomRoutes) join(r *http.Request) (any, error) {
	target := r.PathValue("roomIDOrAlias")
	if target == "" {
		target = r.PathValue("roomID")
	}
	var body reasonBody
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	id, err := rr.svc.Join(r.Context(), MustDevice(r), target, body.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]string{"room_id": id}, nil
}

func (rr *roomRoutes) leave(r *http.Request) (any, error) {
	var body reasonBody
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return struct{}{}, rr.svc.Leave(r.Context(), MustDevice(r), r.PathValue("roomID"), body.Reason)
}

func (rr *roomRoutes) forget(r *http.Request) (any, error) {
	return struct{}{}, rr.svc.Forget(r.Context(), MustDevice(r), r.PathValue("roomID"))
}

// membership serves invite, kick, ban and unban: a user_id and a reason.
func (rr *roomRoutes) membership(op func(ctx context.Context, dev homeserver.Device, roomID, userID, reason string) error) Handler {
	return func(r *http.Request) (any, error) {
		var body reasonBody
		if err := DecodeJSON(r, &body); err != nil {
			return nil, err
		}
		if body.UserID == "" {
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "Missing user_id")
		}
		if err := op(r.Context(), MustDevice(r), r.PathValue("roomID"), body.UserID, body.Reason); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
}

func (rr *roomRoutes) send(r *http.Request) (any, error) {
	content, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	id, err := rr.svc.Send(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventType"), r.PathValue("txnID"), content)
	if err != nil {
		return nil, err
	}
	return eventIDBody{id}, nil
}

// eventIDBody is the answer to a send: a struct marshals without the
// reflection over a map and the key sort that map[string]string costs.
type eventIDBody struct {
	EventID string `json:"event_id"`
}

func (rr *roomRoutes) putState(r *http.Request) (any, error) {
	content, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	id, err := rr.svc.SetState(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventType"), r.PathValue("stateKey"), content)
	if err != nil {
		return nil, err
	}
	return map[string]string{"event_id": id}, nil
}

func (rr *roomRoutes) getState(r *http.Request) (any, error) {
	c, err := rr.svc.StateEvent(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventType"), r.PathValue("stateKey"))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (rr *roomRoutes) allState(r *http.Request) (any, error) {
	return rr.svc.State(r.Context(), MustDevice(r), r.PathValue("roomID"))
}

func (rr *roomRoutes) members(r *http.Request) (any, error) {
	q := r.URL.Query()
	evs, err := rr.svc.Members(r.Context(), MustDevice(r), r.PathValue("roomID"), roomsToken(q.Get("at")), q.Get("membership"), q.Get("not_membership"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"chunk": evs}, nil
}

func (rr *roomRoutes) joinedMembers(r *http.Request) (any, error) {
	m, err := rr.svc.JoinedMembers(r.Context(), MustDevice(r), r.PathValue("roomID"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"joined": m}, nil
}

func (rr *roomRoutes) joinedRooms(r *http.Request) (any, error) {
	return map[string]any{"joined_rooms": rr.svc.JoinedRooms(r.Context(), MustDevice(r))}, nil
}

func (rr *roomRoutes) event(r *http.Request) (any, error) {
	return rr.svc.Event(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventID"))
}

// queryInt parses an optional integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid %s", name)
	}
	return n, nil
}

// queryFilter parses the filter query parameter of /messages and /context.
func queryFilter(r *http.Request) (*rooms.RoomEventFilter, error) {
	v := r.URL.Query().Get("filter")
	if v == "" {
		return nil, nil
	}
	if !json.Valid([]byte(v)) {
		return nil, homeserver.Errorf(homeserver.ErrNotJSON, "filter is not JSON")
	}
	var f rooms.RoomEventFilter
	if err := json.Unmarshal([]byte(v), &f); err != nil {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Invalid filter: %v", err)
	}
	return &f, nil
}

func (rr *roomRoutes) context(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 10)
	if err != nil {
		return nil, err
	}
	f, err := queryFilter(r)
	if err != nil {
		return nil, err
	}
	return rr.svc.Context(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventID"), limit, f)
}

func (rr *roomRoutes) messages(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 10)
	if err != nil {
		return nil, err
	}
	f, err := queryFilter(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	dir := q.Get("dir")
	if dir == "" {
		dir = "b"
	}
	return rr.svc.Messages(r.Context(), MustDevice(r), r.PathValue("roomID"), rooms.MessagesRequest{
		From: roomsToken(q.Get("from")), To: roomsToken(q.Get("to")), Dir: dir, Limit: limit, Filter: f,
	})
}

func (rr *roomRoutes) redact(r *http.Request) (any, error) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	id, err := rr.svc.Redact(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventID"), r.PathValue("txnID"), body.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]string{"event_id": id}, nil
}

func (rr *roomRoutes) typing(r *http.Request) (any, error) {
	var body struct {
		Typing  *bool `json:"typing"`
		Timeout int64 `json:"timeout"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.Typing == nil {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Missing typing")
	}
	err := rr.svc.SetTyping(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("userID"), *body.Typing, body.Timeout)
	return struct{}{}, err
}

func (rr *roomRoutes) roomAliases(r *http.Request) (any, error) {
	as, err := rr.svc.RoomAliases(r.Context(), MustDevice(r), r.PathValue("roomID"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"aliases": as}, nil
}

func (rr *roomRoutes) putAlias(r *http.Request) (any, error) {
	var body struct {
		RoomID string `json:"room_id"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.RoomID == "" {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "Missing room_id")
	}
	return struct{}{}, rr.svc.SetAlias(r.Context(), MustDevice(r), r.PathValue("alias"), body.RoomID)
}

func (rr *roomRoutes) getAlias(r *http.Request) (any, error) {
	id, servers, err := rr.svc.ResolveAlias(r.Context(), r.PathValue("alias"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"room_id": id, "servers": servers}, nil
}

func (rr *roomRoutes) deleteAlias(r *http.Request) (any, error) {
	return struct{}{}, rr.svc.DeleteAlias(r.Context(), MustDevice(r), r.PathValue("alias"))
}
