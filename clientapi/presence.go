package clientapi

import (
	"net/http"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// presenceStore holds the presence tracker shared by the presence routes
// and /sync (set_presence, the presence section). Presence lives in
// memory only (see rooms.Presence): it is ephemeral, so setting it never
// waits for a disk write.
type presenceStore struct {
	p *rooms.Presence
}

// presenceTracker returns the API's tracker, creating it on first use
// (the account routes and the room routes may register in either order).
func (a *API) presenceTracker() *rooms.Presence {
	if a.presence == nil {
		a.presence = &presenceStore{p: rooms.NewPresence()}
	}
	return a.presence.p
}

// PresenceOf returns a user's last set presence: state, status message
// and milliseconds since it was set; ok is false when the user has set
// none since the server started.
func (a *API) PresenceOf(userID string) (state, statusMsg string, agoMS int64, ok bool) {
	if a.presence == nil {
		return "", "", 0, false
	}
	st, ok := a.presence.p.Get(userID)
	if !ok {
		return "", "", 0, false
	}
	if st.StatusMsg != nil {
		statusMsg = *st.StatusMsg
	}
	return st.Presence, statusMsg, st.LastActiveAgo, true
}

func (ar *accountRoutes) presenceRoutes(a *API) {
	ps := a.presenceTracker()
	a.Handle("GET /presence/{userID}/status", Authed, func(r *http.Request) (any, error) {
		user := r.PathValue("userID")
		if !ps.Visible(MustDevice(r).UserID, user) {
			// An unknown user stays 404; a stranger's presence is private.
			if _, _, err := ar.acc.Profile(r.Context(), user); err != nil {
				return nil, err
			}
			return nil, homeserver.Errorf(homeserver.ErrForbidden, "You are not allowed to see the presence of %s", user)
		}
		st, ok := ps.Get(user)
		if !ok {
			if _, _, err := ar.acc.Profile(r.Context(), user); err != nil {
				return nil, err
			}
			return map[string]any{"presence": "offline"}, nil
		}
		return st, nil
	})
	a.Handle("PUT /presence/{userID}/status", Authed, func(r *http.Request) (any, error) {
		user := r.PathValue("userID")
		if user != MustDevice(r).UserID {
			return nil, homeserver.Errorf(homeserver.ErrForbidden, "You can only set your own presence")
		}
		var req struct {
			Presence  string  `json:"presence"`
			StatusMsg *string `json:"status_msg"`
		}
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		switch {
		case req.Presence == "":
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "presence is required")
		case !rooms.ValidPresence(req.Presence):
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "presence must be online, offline or unavailable")
		}
		if req.StatusMsg != nil && len(*req.StatusMsg) > 1024 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "status_msg is too long")
		}
		ps.Set(user, req.Presence, req.StatusMsg)
		return struct{}{}, nil
	})
}
