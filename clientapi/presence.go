package clientapi

import (
	"net/http"
	"sync"
	"time"

	"scop/homeserver"
)

// presenceStore keeps each user's last set presence in memory. Presence is
// ephemeral by nature; after a restart users read as offline until their
// clients set it again, which they do on every start.
type presenceStore struct {
	mu    sync.Mutex
	state map[string]presence
}

type presence struct {
	Presence  string
	StatusMsg *string
	Set       time.Time
}

// PresenceOf returns a user's last set presence (for /sync's presence
// section): state, status message and milliseconds since it was set; ok
// is false when the user has set none since the server started.
func (a *API) PresenceOf(userID string) (state, statusMsg string, agoMS int64, ok bool) {
	if a.presence == nil {
		return "", "", 0, false
	}
	a.presence.mu.Lock()
	p, ok := a.presence.state[userID]
	a.presence.mu.Unlock()
	if !ok {
		return "", "", 0, false
	}
	if p.StatusMsg != nil {
		statusMsg = *p.StatusMsg
	}
	return p.Presence, statusMsg, time.Since(p.Set).Milliseconds(), true
}

func (ar *accountRoutes) presenceRoutes(a *API) {
	ps := &presenceStore{state: map[string]presence{}}
	a.presence = ps
	a.Handle("GET /presence/{userID}/status", Authed, func(r *http.Request) (any, error) {
		user := r.PathValue("userID")
		ps.mu.Lock()
		p, ok := ps.state[user]
		ps.mu.Unlock()
		if !ok {
			if _, _, err := ar.acc.Profile(r.Context(), user); err != nil {
				return nil, err
			}
			return map[string]any{"presence": "offline"}, nil
		}
		out := map[string]any{"presence": p.Presence, "last_active_ago": time.Since(p.Set).Milliseconds(),
			"currently_active": p.Presence == "online"}
		if p.StatusMsg != nil {
			out["status_msg"] = *p.StatusMsg
		}
		return out, nil
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
		switch req.Presence {
		case "online", "offline", "unavailable":
		case "":
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "presence is required")
		default:
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "presence must be online, offline or unavailable")
		}
		if req.StatusMsg != nil && len(*req.StatusMsg) > 1024 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "status_msg is too long")
		}
		ps.mu.Lock()
		ps.state[user] = presence{Presence: req.Presence, StatusMsg: req.StatusMsg, Set: time.Now()}
		ps.mu.Unlock()
		return struct{}{}, nil
	})
}
