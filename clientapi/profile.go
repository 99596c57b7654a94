package clientapi

import (
	"net/http"

	"scop/homeserver"
)

func (ar *accountRoutes) profileRoutes(a *API) {
	a.Handle("GET /profile/{userID}", OptionalAuth, ar.getProfile)
	a.Handle("GET /profile/{userID}/displayname", OptionalAuth, ar.getProfileField("displayname"))
	a.Handle("GET /profile/{userID}/avatar_url", OptionalAuth, ar.getProfileField("avatar_url"))
	a.Handle("PUT /profile/{userID}/displayname", Authed, ar.putProfileField("displayname"))
	a.Handle("PUT /profile/{userID}/avatar_url", Authed, ar.putProfileField("avatar_url"))
}

func (ar *accountRoutes) getProfile(r *http.Request) (any, error) {
	dn, av, err := ar.acc.Profile(r.Context(), r.PathValue("userID"))
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if dn != "" {
		out["displayname"] = dn
	}
	if av != "" {
		out["avatar_url"] = av
	}
	return out, nil
}

func (ar *accountRoutes) getProfileField(field string) Handler {
	return func(r *http.Request) (any, error) {
		dn, av, err := ar.acc.Profile(r.Context(), r.PathValue("userID"))
		if err != nil {
			return nil, err
		}
		v := dn
		if field == "avatar_url" {
			v = av
		}
		if v == "" {
			return struct{}{}, nil
		}
		return map[string]any{field: v}, nil
	}
}

func (ar *accountRoutes) putProfileField(field string) Handler {
	return func(r *http.Request) (any, error) {
		d := MustDevice(r)
		if r.PathValue("userID") != d.UserID {
			return nil, homeserver.Errorf(homeserver.ErrForbidden, "You can only change your own profile")
		}
		var req map[string]any
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		raw, present := req[field]
		v, isString := raw.(string)
		switch {
		case !present:
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "%s is required", field)
		case raw == nil:
			v = ""
		case !isString:
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "%s must be a string", field)
		}
		ctx := r.Context()
		var err error
		if field == "displayname" {
			err = ar.acc.SetDisplayName(ctx, d.UserID, v)
		} else {
			err = ar.acc.SetAvatarURL(ctx, d.UserID, v)
		}
		if err != nil {
			return nil, err
		}
		if ar.opts.OnProfileChange != nil {
			dn, av, err := ar.acc.Profile(ctx, d.UserID)
			if err != nil {
				return nil, err
			}
			if err := ar.opts.OnProfileChange(ctx, d.UserID, dn, av); err != nil {
				return nil, err
			}
		}
		return struct{}{}, nil
	}
}
