package clientapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"scop/homeserver"
)

func (ar *accountRoutes) registerRoutes(a *API) {
	a.Handle("POST /register", Public, ar.register, RateLimit("register"))
	a.Handle("GET /register/available", Public, ar.available, RateLimit("register"))
	a.Handle("GET /_matrix/client/v1/register/m.login.registration_token/validity", Public, ar.tokenValidity, RateLimit("register"))
}

// registerRequest is POST /register's body.
type registerRequest struct {
	Type                     string    `json:"type"` // m.login.application_service
	Username                 string    `json:"username"`
	Password                 *string   `json:"password"`
	DeviceID                 string    `json:"device_id"`
	InitialDeviceDisplayName string    `json:"initial_device_display_name"`
	InhibitLogin             bool      `json:"inhibit_login"`
	Auth                     *authDict `json:"auth"`
}

func (ar *accountRoutes) flows() [][]string {
	if ar.opts.RegistrationToken != "" {
		return [][]string{{"m.login.registration_token"}}
	}
	return [][]string{{"m.login.dummy"}}
}

func (ar *accountRoutes) registerStage(ctx context.Context, stage string, d *authDict) error {
	switch stage {
	case "m.login.dummy":
		return nil
	case "m.login.registration_token":
		if !ar.tokenValid(d.Token) {
			return homeserver.Errorf(homeserver.ErrForbidden, "Invalid registration token")
		}
		return nil
	}
	return homeserver.Errorf(homeserver.ErrUnrecognized, "Unknown auth stage %q", stage)
}

func (ar *accountRoutes) tokenValid(tok string) bool {
	want := ar.opts.RegistrationToken
	return want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

func (ar *accountRoutes) register(r *http.Request) (any, error) {
	if kind := r.URL.Query().Get("kind"); kind != "" && kind != "user" {
		if kind == "guest" {
			return nil, homeserver.Errorf(homeserver.ErrGuestAccess, "Guest access is not supported")
		}
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Unknown kind %q", kind)
	}
	var req registerRequest
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Type == "m.login.application_service" || req.Auth != nil && req.Auth.Type == "m.login.application_service" {
		return ar.registerAppService(r, &req)
	}
	if !ar.opts.RegistrationEnabled {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Registration is disabled")
	}
	// Name problems come before the auth flow so that clients learn of
	// them without completing stages first.
	local := req.Username
	if local != "" {
		if local != strings.ToLower(local) {
			return nil, homeserver.Errorf(homeserver.ErrInvalidUsername, "User ID must be lower case")
		}
		if err := ar.acc.Available(r.Context(), local); err != nil {
			return nil, err
		}
	}
	// A first request without auth only asks for the flows (Element sends
	// {}), so the password is required only once stages are being done.
	noPassword := req.Password == nil || *req.Password == ""
	if req.Auth != nil && noPassword {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "password is required")
	}
	ok, resp, err := ar.uia.check(r.Context(), req.Auth, "register", ar.flows(), nil, ar.registerStage)
	if !ok {
		return resp, err
	}
	if noPassword {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "password is required")
	}
	if local == "" {
		// The spec lets the server choose; a time-based name is unique
		// enough and Register rejects the rare collision.
		local = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	userID, err := ar.acc.Register(r.Context(), local, *req.Password, false)
	if err != nil {
		return nil, err
	}
	return ar.registered(r, &req, userID)
}

// registerAppService creates a user for the application service whose
// token the request carries; no password, no auth stages.
func (ar *accountRoutes) registerAppService(r *http.Request, req *registerRequest) (any, error) {
	tok := accessToken(r)
	if tok == "" {
		return nil, homeserver.Errorf(homeserver.ErrMissingToken, "m.login.application_service needs the application service token")
	}
	userID, err := ar.acc.RegisterAppServiceUser(r.Context(), tok, strings.ToLower(req.Username))
	if err != nil {
		return nil, err
	}
	return ar.registered(r, req, userID)
}

// registered answers a successful registration, logging in a new device
// unless inhibit_login.
func (ar *accountRoutes) registered(r *http.Request, req *registerRequest, userID string) (any, error) {
	out := map[string]any{"user_id": userID, "home_server": ar.acc.ServerName()}
	if req.InhibitLogin {
		return out, nil
	}
	s, err := ar.acc.Login(r.Context(), userID, req.DeviceID, req.InitialDeviceDisplayName, clientIP(r))
	if err != nil {
		return nil, err
	}
	out["access_token"], out["device_id"] = s.AccessToken, s.DeviceID
	return out, nil
}

func (ar *accountRoutes) available(r *http.Request) (any, error) {
	local := r.URL.Query().Get("username")
	if local != strings.ToLower(local) {
		return nil, homeserver.Errorf(homeserver.ErrInvalidUsername, "User ID must be lower case")
	}
	if err := ar.acc.Available(r.Context(), local); err != nil {
		return nil, err
	}
	return map[string]any{"available": true}, nil
}

func (ar *accountRoutes) tokenValidity(r *http.Request) (any, error) {
	if !ar.opts.RegistrationEnabled || ar.opts.RegistrationToken == "" {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Registration tokens are not in use")
	}
	tok, ok := r.URL.Query()["token"]
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "token is required")
	}
	return map[string]any{"valid": ar.tokenValid(tok[0])}, nil
}
