package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"scop/homeserver"
	"scop/homeserver/push"
)

// Pushers is the pushers API's backend (homeserver/push.Service).
type Pushers interface {
	// Pushers lists a user's pushers.
	Pushers(ctx context.Context, userID string) []push.Pusher
	// Set adds, replaces or (Delete) removes a pusher durably.
	Set(ctx context.Context, req *push.SetRequest) error
}

// pushersOf holds the backend given to RegisterPushers for each API: the
// routes are registered with the account routes, before it is known.
var pushersOf sync.Map // *API → Pushers

// RegisterPushers serves GET /pushers and POST /pushers/set from p.
// Without it a user has no pushers and setting one is M_UNRECOGNIZED.
func (a *API) RegisterPushers(p Pushers) { pushersOf.Store(a, p) }

func (a *API) pushers() Pushers {
	if p, ok := pushersOf.Load(a); ok {
		return p.(Pushers)
	}
	return nil
}

func (ar *accountRoutes) pusherRoutes(a *API) {
	a.Handle("GET /pushers", Authed, func(r *http.Request) (any, error) {
		list := []push.Pusher{}
		if p := a.pushers(); p != nil {
			list = append(list, p.Pushers(r.Context(), MustDevice(r).UserID)...)
		}
		return map[string]any{"pushers": list}, nil
	})
	a.Handle("POST /pushers/set", Authed, func(r *http.Request) (any, error) {
		p := a.pushers()
		if p == nil {
			return nil, &homeserver.Error{Code: homeserver.ErrUnrecognized, Message: "This server sends no push notifications",
				Status: http.StatusNotFound}
		}
		var body json.RawMessage
		if err := DecodeJSON(r, &body); err != nil {
			return nil, err
		}
		req, err := push.ParseSet(MustDevice(r).UserID, body)
		if err != nil {
			return nil, err
		}
		return struct{}{}, p.Set(r.Context(), req)
	})
}
