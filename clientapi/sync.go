package clientapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

func (rr *roomRoutes) syncRoutes(a *API) {
	rr.svc.UsePresence(a.presenceTracker())
	a.Handle("GET /sync", Authed, rr.sync)
	a.Handle("POST /user/{userID}/filter", Authed, rr.createFilter)
	a.Handle("GET /user/{userID}/filter/{filterID}", Authed, rr.getFilter)
	a.Handle("PUT /user/{userID}/account_data/{type}", Authed, rr.putAccountData)
	a.Handle("GET /user/{userID}/account_data/{type}", Authed, rr.getAccountData)
	a.Handle("PUT /user/{userID}/rooms/{roomID}/account_data/{type}", Authed, rr.putAccountData)
	a.Handle("GET /user/{userID}/rooms/{roomID}/account_data/{type}", Authed, rr.getAccountData)
	a.Handle("GET /user/{userID}/rooms/{roomID}/tags", Authed, rr.getTags)
	a.Handle("PUT /user/{userID}/rooms/{roomID}/tags/{tag}", Authed, rr.putTag)
	a.Handle("DELETE /user/{userID}/rooms/{roomID}/tags/{tag}", Authed, rr.deleteTag)
}

func (rr *roomRoutes) sync(r *http.Request) (any, error) {
	q := r.URL.Query()
	req := rooms.SyncRequest{Since: q.Get("since"), Filter: q.Get("filter")}
	if m := rr.api.Metrics(); m != nil {
		req.Parked = func(waiting bool) {
			if waiting {
				m.ParkedSyncs.Inc()
			} else {
				m.ParkedSyncs.Dec()
			}
		}
	}
	switch q.Get("full_state") {
	case "", "false":
	case "true":
		req.FullState = true
	default:
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "full_state must be true or false")
	}
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid timeout")
		}
		req.Timeout = time.Duration(min(ms, 3_600_000)) * time.Millisecond
	}
	// set_presence (default online) marks the user's presence before the
	// rooms part is built, so the answer's token covers the change.
	if p := q.Get("set_presence"); p != "" && !rooms.ValidPresence(p) {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "set_presence must be online, offline or unavailable")
	}
	req.SetPresence = q.Get("set_presence")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-rr.api.Stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	dev := MustDevice(r)
	resp, extras, err := rr.api.syncWithToDevice(ctx, dev, req, rr.svc)
	if err != nil {
		return nil, err
	}
	// Key counts are read after the rooms part so a long poll reports the
	// counts as of its answer, not as of its start.
	counts, fallback, err := rr.api.DeviceKeyCounts(r.Context(), dev)
	if err != nil {
		return nil, fmt.Errorf("key counts of %s/%s: %w", dev.UserID, dev.DeviceID, err)
	}
	if counts == nil {
		counts = map[string]int{}
	}
	if fallback == nil {
		fallback = []string{}
	}
	return syncResponse{SyncResponse: resp, OneTimeKeysCount: counts, UnusedFallbackKeyTypes: fallback, ToDevice: extras.ToDevice, DeviceLists: extras.DeviceLists}, nil
}

// syncResponse adds the end-to-end encryption key counts, which the
// accounts side owns, to the rooms service's sync answer.
type syncResponse struct {
	*rooms.SyncResponse
	OneTimeKeysCount       map[string]int  `json:"device_one_time_keys_count"`
	UnusedFallbackKeyTypes []string        `json:"device_unused_fallback_key_types"`
	ToDevice               *toDeviceEvents `json:"to_device,omitempty"` // todevice.go
	DeviceLists            *deviceLists    `json:"device_lists,omitempty"`
}

func (rr *roomRoutes) createFilter(r *http.Request) (any, error) {
	var raw json.RawMessage
	if err := DecodeJSON(r, &raw); err != nil {
		return nil, err
	}
	data := []byte(raw)
	id, err := rr.svc.CreateFilter(r.Context(), MustDevice(r), r.PathValue("userID"), data)
	if err != nil {
		return nil, err
	}
	return map[string]string{"filter_id": id}, nil
}

func (rr *roomRoutes) getFilter(r *http.Request) (any, error) {
	return rr.svc.GetFilter(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("filterID"))
}

func (rr *roomRoutes) putAccountData(r *http.Request) (any, error) {
	content, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	err = rr.svc.SetAccountData(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("roomID"), r.PathValue("type"), content)
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (rr *roomRoutes) getAccountData(r *http.Request) (any, error) {
	c, err := rr.svc.AccountData(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("roomID"), r.PathValue("type"))
	if err != nil {
		return nil, err
	}
	return json.RawMessage(c), nil
}

func (rr *roomRoutes) getTags(r *http.Request) (any, error) {
	c, err := rr.svc.Tags(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("roomID"))
	if err != nil {
		return nil, err
	}
	return json.RawMessage(c), nil
}

func (rr *roomRoutes) putTag(r *http.Request) (any, error) {
	content, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	err = rr.svc.SetTag(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("roomID"), r.PathValue("tag"), content)
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (rr *roomRoutes) deleteTag(r *http.Request) (any, error) {
	err := rr.svc.DeleteTag(r.Context(), MustDevice(r), r.PathValue("userID"), r.PathValue("roomID"), r.PathValue("tag"))
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
