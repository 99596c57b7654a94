package clientapi

import (
	"net/http"

	"scop/homeserver"
	"scop/homeserver/accounts"
)

func (ar *accountRoutes) deviceRoutes(a *API) {
	a.Handle("GET /devices", Authed, ar.listDevices)
	a.Handle("GET /devices/{deviceID}", Authed, ar.getDevice)
	a.Handle("PUT /devices/{deviceID}", Authed, ar.putDevice)
	a.Handle("DELETE /devices/{deviceID}", Authed, a.noteKeyChange(ar.deleteDevice, false), RateLimit("login"))
	a.Handle("POST /delete_devices", Authed, a.noteKeyChange(ar.deleteDevices, false), RateLimit("login"))
	a.Handle("GET /admin/whois/{userID}", Authed, ar.whois)
}

func deviceJSON(d accounts.Device) map[string]any {
	m := map[string]any{"device_id": d.DeviceID}
	if d.DisplayName != "" {
		m["display_name"] = d.DisplayName
	}
	if d.LastSeenIP != "" {
		m["last_seen_ip"] = d.LastSeenIP
	}
	if d.LastSeenTS != 0 {
		m["last_seen_ts"] = d.LastSeenTS
	}
	return m
}

func (ar *accountRoutes) listDevices(r *http.Request) (any, error) {
	ds, err := ar.acc.Devices(r.Context(), MustDevice(r).UserID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceJSON(d))
	}
	return map[string]any{"devices": out}, nil
}

func (ar *accountRoutes) getDevice(r *http.Request) (any, error) {
	d, err := ar.acc.Device(r.Context(), MustDevice(r).UserID, r.PathValue("deviceID"))
	if err != nil {
		return nil, err
	}
	return deviceJSON(d), nil
}

func (ar *accountRoutes) putDevice(r *http.Request) (any, error) {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	user, id := MustDevice(r).UserID, r.PathValue("deviceID")
	if req.DisplayName == nil {
		// Nothing to change, but the device must exist.
		_, err := ar.acc.Device(r.Context(), user, id)
		return struct{}{}, err
	}
	if len(*req.DisplayName) > 512 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "display_name is too long")
	}
	return struct{}{}, ar.acc.RenameDevice(r.Context(), user, id, *req.DisplayName)
}

func (ar *accountRoutes) deleteDevice(r *http.Request) (any, error) {
	var req struct {
		Auth *authDict `json:"auth"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	user, id := MustDevice(r).UserID, r.PathValue("deviceID")
	if _, err := ar.acc.Device(r.Context(), user, id); err != nil {
		return nil, err
	}
	ok, resp, err := ar.requirePassword(r, req.Auth, "delete_devices")
	if !ok {
		return resp, err
	}
	return struct{}{}, ar.acc.DeleteDevices(r.Context(), user, []string{id}, "")
}

func (ar *accountRoutes) deleteDevices(r *http.Request) (any, error) {
	var req struct {
		Devices *[]string `json:"devices"`
		Auth    *authDict `json:"auth"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Devices == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "devices is required")
	}
	ok, resp, err := ar.requirePassword(r, req.Auth, "delete_devices")
	if !ok {
		return resp, err
	}
	ids := *req.Devices
	if ids == nil {
		ids = []string{} // an empty list deletes nothing, never everything
	}
	return struct{}{}, ar.acc.DeleteDevices(r.Context(), MustDevice(r).UserID, ids, "")
}

// whois serves GET /admin/whois/{userId} to server admins and to the user
// themself: the user's devices with their last connection.
func (ar *accountRoutes) whois(r *http.Request) (any, error) {
	d, target := MustDevice(r), r.PathValue("userID")
	if !d.IsAdmin && d.UserID != target {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Only server admins can look up other users")
	}
	if _, _, err := ar.acc.Profile(r.Context(), target); err != nil {
		return nil, err
	}
	ds, err := ar.acc.Devices(r.Context(), target)
	if err != nil {
		return nil, err
	}
	devices := map[string]any{}
	for _, dev := range ds {
		conns := []map[string]any{}
		if dev.LastSeenTS != 0 {
			conns = append(conns, map[string]any{"ip": dev.LastSeenIP, "last_seen": dev.LastSeenTS})
		}
		devices[dev.DeviceID] = map[string]any{"sessions": []map[string]any{{"connections": conns}}}
	}
	return map[string]any{"user_id": target, "devices": devices}, nil
}
