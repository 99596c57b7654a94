package clientapi

import "net/http"

// Versions lists the spec versions SCoP serves. matrix-js-sdk needs one of
// v1.1 and later; mautrix bridges need v1.4.
var Versions = []string{"r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4"}

func (ar *accountRoutes) discoveryRoutes(a *API) {
	a.Handle("GET /_matrix/client/versions", Public, func(r *http.Request) (any, error) {
		return map[string]any{"versions": Versions, "unstable_features": unstableFeatures}, nil
	})
	a.Handle("GET /.well-known/matrix/client", Public, ar.wellKnown)
	a.Handle("GET /capabilities", Authed, ar.capabilities)
	// Element probes these; answering them plainly keeps its logs quiet.
	a.Handle("GET /thirdparty/protocols", Authed, func(r *http.Request) (any, error) {
		return struct{}{}, nil
	})
	a.Handle("GET /account/3pid", Authed, func(r *http.Request) (any, error) {
		return map[string]any{"threepids": []any{}}, nil
	})
	ar.presenceRoutes(a)
}

func (ar *accountRoutes) wellKnown(r *http.Request) (any, error) {
	base := ar.opts.PublicBaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return map[string]any{"m.homeserver": map[string]any{"base_url": base}}, nil
}

func (ar *accountRoutes) capabilities(r *http.Request) (any, error) {
	on := map[string]bool{"enabled": true}
	return map[string]any{"capabilities": map[string]any{
		"m.change_password": on,
		"m.set_displayname": on,
		"m.set_avatar_url":  on,
		"m.3pid_changes":    map[string]bool{"enabled": false},
		"m.room_versions": map[string]any{
			"default":   ar.opts.DefaultRoomVersion,
			"available": map[string]string{"10": "stable", "11": "stable", "12": "stable"},
		},
	}}, nil
}

// unstableFeatures are the MSCs served beyond Versions: simplified sliding
// sync (Element X checks it) and the appservice ping of MSC2659 (spec
// v1.7, which we do not advertise whole; mautrix pings at start-up only
// when it sees v1.7 or this flag).
var unstableFeatures = map[string]bool{slidingFeature: true, "fi.mau.msc2659.stable": true}
