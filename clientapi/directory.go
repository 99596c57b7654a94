package clientapi

import (
	"net/http"

	"scop/homeserver"
)

func (rr *roomRoutes) directoryRoutes(a *API) {
	a.Handle("GET /directory/list/room/{roomID}", Public, rr.getVisibility)
	a.Handle("PUT /directory/list/room/{roomID}", Authed, rr.putVisibility)
	a.Handle("GET /publicRooms", OptionalAuth, rr.publicRooms)
	a.Handle("POST /publicRooms", Authed, rr.searchPublicRooms)
}

func (rr *roomRoutes) getVisibility(r *http.Request) (any, error) {
	v, err := rr.svc.Visibility(r.Context(), r.PathValue("roomID"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"visibility": v}, nil
}

func (rr *roomRoutes) putVisibility(r *http.Request) (any, error) {
	var body struct {
		Visibility string `json:"visibility"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if err := rr.svc.SetVisibility(r.Context(), MustDevice(r), r.PathValue("roomID"), body.Visibility); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (rr *roomRoutes) publicRooms(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if s := q.Get("server"); s != "" && s != rr.svc.ServerName() {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Federation is not available")
	}
	return rr.svc.PublicRooms(r.Context(), limit, q.Get("since"), "")
}

func (rr *roomRoutes) searchPublicRooms(r *http.Request) (any, error) {
	var body struct {
		Limit  int    `json:"limit"`
		Since  string `json:"since"`
		Filter struct {
			Term string `json:"generic_search_term"`
		} `json:"filter"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if s := r.URL.Query().Get("server"); s != "" && s != rr.svc.ServerName() {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Federation is not available")
	}
	if body.Limit < 0 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid limit")
	}
	return rr.svc.PublicRooms(r.Context(), body.Limit, body.Since, body.Filter.Term)
}
