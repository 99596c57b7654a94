package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"scop/homeserver"
	"scop/homeserver/push"
	"scop/homeserver/rooms"
)

// Pushers is the pushers API's backend (homeserver/push.Service).
type Pushers interface {
	// Pushers lists a user's pushers.
	Pushers(ctx context.Context, userID string) []push.Pusher
	// Set adds, replaces or (Delete) removes a pusher durably.
	Set(ctx context.Context, req *push.SetRequest) error
}

// RegisterPushers serves GET /pushers and POST /pushers/set from p.
// Without it a user has no pushers and setting one is M_UNRECOGNIZED.
// Call it before serving: the routes read it unguarded.
func (a *API) RegisterPushers(p Pushers) { a.pushers = p }

func (ar *accountRoutes) pusherRoutes(a *API) {
	a.Handle("GET /pushers", Authed, func(r *http.Request) (any, error) {
		list := []push.Pusher{}
		if p := a.pushers; p != nil {
			list = append(list, p.Pushers(r.Context(), MustDevice(r).UserID)...)
		}
		return map[string]any{"pushers": list}, nil
	})
	a.Handle("POST /pushers/set", Authed, func(r *http.Request) (any, error) {
		p := a.pushers
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

// NotificationLister lists the events a user's push rules notify for
// (homeserver/rooms.Service).
type NotificationLister interface {
	Notifications(ctx context.Context, dev homeserver.Device, from string, limit int, onlyHighlight bool) (*rooms.NotificationsPage, error)
}

// RegisterNotifications serves GET /notifications from n.
func (a *API) RegisterNotifications(n NotificationLister) {
	a.Handle("GET /notifications", Authed, func(r *http.Request) (any, error) {
		q := r.URL.Query()
		limit := 0
		if l := q.Get("limit"); l != "" {
			v, err := strconv.Atoi(l)
			if err != nil || v < 0 {
				return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "limit must be a non-negative integer")
			}
			limit = v
		}
		only := q.Get("only")
		if only != "" && only != "highlight" {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "only must be highlight")
		}
		return n.Notifications(r.Context(), MustDevice(r), q.Get("from"), limit, only == "highlight")
	})
}
