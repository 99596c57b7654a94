package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"scop/homeserver"
	"scop/homeserver/accounts"
)

// Accounts is what the account routes need from the accounts service.
type Accounts interface {
	Authenticator
	ServerName() string
	Localpart(id string) (string, bool)
	Available(ctx context.Context, localpart string) error
	Register(ctx context.Context, localpart, password string, admin bool) (string, error)
	CheckPassword(ctx context.Context, id, password string) (string, error)
	Login(ctx context.Context, userID, deviceID, displayName, ip string) (accounts.Session, error)
	SetPassword(ctx context.Context, userID, password string, logoutDevices bool, keep string) error
	Devices(ctx context.Context, userID string) ([]accounts.Device, error)
	Device(ctx context.Context, userID, deviceID string) (accounts.Device, error)
	RenameDevice(ctx context.Context, userID, deviceID, name string) error
	DeleteDevices(ctx context.Context, userID string, ids []string, keep string) error
	Deactivate(ctx context.Context, userID string) error
	PushRuleStore
	Keys
	Backups
	UserDirectory
	RegisterAppServiceUser(ctx context.Context, token, localpart string) (string, error)
	AppServiceLogin(ctx context.Context, token, user string) (string, error)
	Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error)
	SetDisplayName(ctx context.Context, userID, name string) error
	SetAvatarURL(ctx context.Context, userID, url string) error
}

// AccountOptions configure the account routes.
type AccountOptions struct {
	// RegistrationEnabled opens /register.
	RegistrationEnabled bool
	// RegistrationToken, when set, makes registration require the
	// m.login.registration_token stage with this token.
	RegistrationToken string
	// DefaultRoomVersion is advertised in /capabilities.
	DefaultRoomVersion string
	// PublicBaseURL is the m.homeserver base_url of .well-known; empty
	// means the scheme and Host of each request.
	PublicBaseURL string
	// OnProfileChange is told about every display name or avatar change
	// (the rooms service updates the user's membership events). May be nil.
	OnProfileChange func(ctx context.Context, userID, displayName, avatarURL string) error
	// OnDeactivate runs before an account is deactivated (the rooms
	// service makes the user leave its rooms). May be nil.
	OnDeactivate func(ctx context.Context, userID string) error
	// OnPushRulesChange is given a user's whole ruleset ({"global": ...}
	// content of m.push_rules account data) after each change. May be nil.
	OnPushRulesChange func(ctx context.Context, userID string, content json.RawMessage) error
}

type accountRoutes struct {
	acc  Accounts
	opts AccountOptions
	uia  *uiaStore
}

// RegisterAccounts adds the routes of registration, login, devices,
// profiles and the server's discovery endpoints (versions, capabilities,
// well-known, push rules, and a few Element probes).
func (a *API) RegisterAccounts(acc Accounts, opts AccountOptions) {
	if opts.DefaultRoomVersion == "" {
		opts.DefaultRoomVersion = "12"
	}
	ar := &accountRoutes{acc: acc, opts: opts, uia: newUIAStore()}
	a.Handle("GET /login", Public, ar.loginFlows)
	a.Handle("POST /login", Public, ar.login, RateLimit("login"))
	a.Handle("POST /logout", Authed, ar.logout)
	a.Handle("POST /logout/all", Authed, ar.logoutAll)
	a.Handle("GET /account/whoami", Authed, ar.whoami)
	a.Handle("POST /account/password", Authed, ar.password, RateLimit("login"))
	a.Handle("POST /account/deactivate", Authed, ar.deactivate, RateLimit("login"))
	ar.registerRoutes(a)
	ar.deviceRoutes(a)
	ar.profileRoutes(a)
	ar.discoveryRoutes(a)
	ar.pushRuleRoutes(a)
	ar.keyRoutes(a)
	ar.backupRoutes(a)
	ar.directoryRoutes(a)
}

// loginRequest is POST /login's body.
type loginRequest struct {
	Type                     string     `json:"type"`
	Identifier               identifier `json:"identifier"`
	User                     string     `json:"user"`
	Password                 string     `json:"password"`
	DeviceID                 string     `json:"device_id"`
	InitialDeviceDisplayName string     `json:"initial_device_display_name"`
}

func (ar *accountRoutes) loginFlows(r *http.Request) (any, error) {
	return map[string]any{"flows": []map[string]any{{"type": "m.login.password"}, {"type": "m.login.application_service"}}}, nil
}

// userFromIdentifier returns the user an m.login.password dict names, from
// identifier or the legacy user field.
func userFromIdentifier(id identifier, legacy string) (string, error) {
	switch {
	case id.Type == "" && legacy != "":
		return legacy, nil
	case id.Type == "m.id.user" && id.User != "":
		return id.User, nil
	case id.Type == "m.id.user" || id.Type == "" && legacy == "":
		return "", homeserver.Errorf(homeserver.ErrMissingParam, "identifier.user is required")
	default:
		return "", homeserver.Errorf(homeserver.ErrUnknown, "Identifier type %q is not supported", id.Type)
	}
}

func (ar *accountRoutes) login(r *http.Request) (any, error) {
	var req loginRequest
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Type != "m.login.password" && req.Type != "m.login.application_service" {
		return nil, homeserver.Errorf(homeserver.ErrUnknown, "Login type %q is not supported", req.Type)
	}
	user, err := userFromIdentifier(req.Identifier, req.User)
	if err != nil {
		return nil, err
	}
	var userID string
	switch req.Type {
	case "m.login.password":
		userID, err = ar.acc.CheckPassword(r.Context(), user, req.Password)
	case "m.login.application_service":
		userID, err = ar.acc.AppServiceLogin(r.Context(), accessToken(r), user)
	}
	if err != nil {
		return nil, err
	}
	s, err := ar.acc.Login(r.Context(), userID, req.DeviceID, req.InitialDeviceDisplayName, clientIP(r))
	if err != nil {
		return nil, err
	}
	return map[string]any{"user_id": s.UserID, "access_token": s.AccessToken, "device_id": s.DeviceID,
		"home_server": ar.acc.ServerName()}, nil
}

func (ar *accountRoutes) logout(r *http.Request) (any, error) {
	d := MustDevice(r)
	return struct{}{}, ar.acc.DeleteDevices(r.Context(), d.UserID, []string{d.DeviceID}, "")
}

func (ar *accountRoutes) logoutAll(r *http.Request) (any, error) {
	d := MustDevice(r)
	return struct{}{}, ar.acc.DeleteDevices(r.Context(), d.UserID, nil, "")
}

func (ar *accountRoutes) whoami(r *http.Request) (any, error) {
	d := MustDevice(r)
	out := map[string]any{"user_id": d.UserID, "is_guest": false}
	if d.DeviceID != "" { // application services have no device
		out["device_id"] = d.DeviceID
	}
	return out, nil
}

// passwordStage is the m.login.password UIA stage for the caller: the
// identifier must name the caller and the password be right.
func (ar *accountRoutes) passwordStage(userID string) stageCheck {
	return func(ctx context.Context, stage string, d *authDict) error {
		user, err := userFromIdentifier(d.Identifier, d.User)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(user, "@") {
			user = "@" + strings.ToLower(user) + ":" + ar.acc.ServerName()
		}
		if user != userID {
			return homeserver.Errorf(homeserver.ErrForbidden, "You can only authenticate as yourself")
		}
		_, err = ar.acc.CheckPassword(ctx, userID, d.Password)
		return err
	}
}

// requirePassword runs the m.login.password UIA flow for the caller.
func (ar *accountRoutes) requirePassword(r *http.Request, auth *authDict, action string) (bool, any, error) {
	d := MustDevice(r)
	return ar.uia.check(r.Context(), auth, action+" "+d.UserID, [][]string{{"m.login.password"}}, nil, ar.passwordStage(d.UserID))
}

func (ar *accountRoutes) password(r *http.Request) (any, error) {
	var req struct {
		NewPassword   *string   `json:"new_password"`
		LogoutDevices *bool     `json:"logout_devices"`
		Auth          *authDict `json:"auth"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.NewPassword == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "new_password is required")
	}
	ok, resp, err := ar.requirePassword(r, req.Auth, "password")
	if !ok {
		return resp, err
	}
	d := MustDevice(r)
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := ar.acc.SetPassword(r.Context(), d.UserID, *req.NewPassword, logout, d.DeviceID); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (ar *accountRoutes) deactivate(r *http.Request) (any, error) {
	var req struct {
		Auth *authDict `json:"auth"`
		// erase and id_server are accepted; SCoP always clears the
		// profile and has no identity server binding to undo.
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	ok, resp, err := ar.requirePassword(r, req.Auth, "deactivate")
	if !ok {
		return resp, err
	}
	d := MustDevice(r)
	// Rooms first: if leaving fails the account stays usable and the
	// client can retry, rather than being locked out half-way.
	if ar.opts.OnDeactivate != nil {
		if err := ar.opts.OnDeactivate(r.Context(), d.UserID); err != nil {
			return nil, err
		}
	}
	if err := ar.acc.Deactivate(r.Context(), d.UserID); err != nil {
		return nil, err
	}
	return map[string]any{"id_server_unbind_result": "no-support"}, nil
}
