package clientapi

import (
	"net/http"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// knockRoutes serves POST /knock/{roomIdOrAlias}.
func (rr *roomRoutes) knockRoutes(a *API) {
	a.Handle("POST /knock/{roomIDOrAlias}", Authed, rr.knock)
}

// hierarchyRoutes serves the space hierarchy.
func (rr *roomRoutes) hierarchyRoutes(a *API) {
	a.Handle("GET /_matrix/client/v1/rooms/{roomID}/hierarchy", Authed, rr.hierarchy)
}

// upgradeRoutes serves POST /rooms/{roomId}/upgrade.
func (rr *roomRoutes) upgradeRoutes(a *API) {
	a.Handle("POST /rooms/{roomID}/upgrade", Authed, rr.upgrade)
}

func (rr *roomRoutes) knock(r *http.Request) (any, error) {
	var body reasonBody
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	// server_name / via name servers to knock through: without
	// federation only local rooms can be knocked on, so they are unused.
	id, err := rr.svc.Knock(r.Context(), MustDevice(r), r.PathValue("roomIDOrAlias"), body.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]string{"room_id": id}, nil
}

func (rr *roomRoutes) hierarchy(r *http.Request) (any, error) {
	q := r.URL.Query()
	req := rooms.HierarchyRequest{RoomID: r.PathValue("roomID"), From: q.Get("from"), Limit: -1, MaxDepth: -1}
	switch q.Get("suggested_only") {
	case "", "false":
	case "true":
		req.SuggestedOnly = true
	default:
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "suggested_only must be true or false")
	}
	var err error
	if q.Has("limit") {
		if req.Limit, err = queryInt(r, "limit", 0); err != nil {
			return nil, err
		}
	}
	if q.Has("max_depth") {
		if req.MaxDepth, err = queryInt(r, "max_depth", 0); err != nil {
			return nil, err
		}
	}
	return rr.svc.Hierarchy(r.Context(), MustDevice(r), req)
}

func (rr *roomRoutes) upgrade(r *http.Request) (any, error) {
	var body struct {
		NewVersion         *string  `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.NewVersion == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "new_version is required")
	}
	id, err := rr.svc.UpgradeRoom(r.Context(), MustDevice(r), r.PathValue("roomID"), *body.NewVersion, body.AdditionalCreators)
	if err != nil {
		return nil, err
	}
	return map[string]string{"replacement_room": id}, nil
}
