package clientapi

import (
	"context"
	"net/http"

	"scop/homeserver"
	"scop/homeserver/accounts"
)

// UserDirectory is what the user directory route needs.
type UserDirectory interface {
	SearchDirectory(ctx context.Context, term string, limit int) ([]accounts.DirectoryEntry, bool, error)
}

func (ar *accountRoutes) directoryRoutes(a *API) {
	a.Handle("POST /user_directory/search", Authed, ar.searchUsers)
}

func (ar *accountRoutes) searchUsers(r *http.Request) (any, error) {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.SearchTerm == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "search_term is required")
	}
	limit := 10
	if req.Limit != nil {
		if *req.Limit < 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "limit must not be negative")
		}
		limit = min(*req.Limit, 100)
	}
	results, limited, err := ar.acc.SearchDirectory(r.Context(), *req.SearchTerm, limit)
	if err != nil {
		return nil, err
	}
	return map[string]any{"results": results, "limited": limited}, nil
}
