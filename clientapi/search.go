package clientapi

import (
	"net/http"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// searchRoutes serves POST /search (spec: "Server Side Search"), the
// room_events category only.
func (rr *roomRoutes) searchRoutes(a *API) {
	a.Handle("POST /search", Authed, rr.search)
}

func (rr *roomRoutes) search(r *http.Request) (any, error) {
	var body struct {
		Categories *struct {
			RoomEvents *rooms.SearchRequest `json:"room_events"`
		} `json:"search_categories"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.Categories == nil {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Missing search_categories")
	}
	out := map[string]any{}
	if req := body.Categories.RoomEvents; req != nil {
		if req.Filter != nil && req.Filter.Limit != nil && *req.Filter.Limit < 0 {
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Negative limit")
		}
		req.NextBatch = r.URL.Query().Get("next_batch")
		res, err := rr.svc.SearchRoomEvents(r.Context(), MustDevice(r), *req)
		if err != nil {
			return nil, err
		}
		out["room_events"] = res
	}
	return map[string]any{"search_categories": out}, nil
}
