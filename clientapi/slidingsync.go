package clientapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"scop/homeserver"
	"scop/homeserver/rooms"
	"scop/homeserver/todevice"
)

// Simplified sliding sync (MSC4186), the sync Element X and
// matrix-rust-sdk use. It is advertised in /versions as the unstable
// feature org.matrix.simplified_msc3575, which is what matrix-rust-sdk
// checks before using it (no .well-known entry is needed: that was only
// for the old proxy). The rooms part is homeserver/rooms/slidingsync*.go;
// this file adds the to_device and e2ee extensions.

// slidingSyncPath is the endpoint: MSC4186 is not in a spec release yet,
// so only its unstable path exists.
const slidingSyncPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// slidingFeature is the /versions unstable feature that announces it.
const slidingFeature = "org.matrix.simplified_msc3575"

// maxSlidingTimeout caps the long poll a client may ask for.
const maxSlidingTimeout = 5 * time.Minute

type slidingRoutes struct {
	rr    *roomRoutes
	conns *rooms.SlidingConns
}

func (rr *roomRoutes) slidingSyncRoutes(a *API) {
	ss := &slidingRoutes{rr: rr, conns: rooms.NewSlidingConns()}
	a.Handle("POST "+slidingSyncPath, Authed, ss.sync)
}

func (ss *slidingRoutes) sync(r *http.Request) (any, error) {
	q := r.URL.Query()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, &homeserver.Error{Code: homeserver.ErrTooLarge, Message: "Request body too large", Status: http.StatusRequestEntityTooLarge}
	}
	req, err := rooms.ParseSlidingRequest(data)
	if err != nil {
		return nil, err
	}
	req.Pos = q.Get("pos")
	if req.Pos == "" {
		req.Pos = req.BodyPos
	}
	if req.BodyTimeout != nil {
		req.Timeout = min(time.Duration(min(*req.BodyTimeout, 3_600_000))*time.Millisecond, maxSlidingTimeout)
	}
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid timeout")
		}
		req.Timeout = min(time.Duration(min(ms, 3_600_000))*time.Millisecond, maxSlidingTimeout)
	}
	if p := q.Get("set_presence"); p != "" {
		if !rooms.ValidPresence(p) {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "set_presence must be online, offline or unavailable")
		}
		req.SetPresence = p
	}
	api := ss.rr.api
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-api.Stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	dev := MustDevice(r)
	var hook rooms.SlidingHook
	if x := req.Extensions; x.ToDevice.On() || x.E2EE.On() {
		hook = &slidingKeysHook{api: api, rr: ss.rr, dev: dev, req: req}
	}
	if m := api.Metrics(); m != nil {
		req.Parked = func(waiting bool) {
			if waiting {
				m.ParkedSyncs.Inc()
			} else {
				m.ParkedSyncs.Dec()
			}
		}
	}
	return ss.rr.svc.SlidingSync(ctx, dev, ss.conns, req, hook)
}

// slidingKeysHook serves the to_device and e2ee extensions.
type slidingKeysHook struct {
	api *API
	rr  *roomRoutes
	dev homeserver.Device
	req *rooms.SlidingRequest
}

// slidingToDevice is the to_device extension response.
type slidingToDevice struct {
	NextBatch string             `json:"next_batch"`
	Events    []todevice.Message `json:"events"`
}

// slidingE2EE is the e2ee extension response.
type slidingE2EE struct {
	DeviceLists            *deviceLists   `json:"device_lists"`
	OneTimeKeysCount       map[string]int `json:"device_one_time_keys_count"`
	UnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types"`
}

// Wake implements rooms.SlidingHook: a message for the device or a device
// list change ends a long poll.
func (h *slidingKeysHook) Wake() []<-chan struct{} {
	tr := h.api.toDevice
	if tr == nil {
		return nil
	}
	var out []<-chan struct{}
	if h.req.Extensions.ToDevice.On() {
		out = append(out, tr.td.Changed(h.dev.UserID, h.dev.DeviceID))
	}
	if h.req.Extensions.E2EE.On() {
		out = append(out, tr.td.DeviceListsChanged())
	}
	return out
}

// Fill implements rooms.SlidingHook. since is the device list position of
// the previous response; the to-device position is the client's since.
func (h *slidingKeysHook) Fill(ctx context.Context, resp *rooms.SlidingResponse, st rooms.SlidingHookState) (int64, bool, error) {
	since, initial := st.Since, st.Initial
	tr := h.api.toDevice
	x := h.req.Extensions
	news := false
	var keysPos int64
	if x.ToDevice.On() {
		out := &slidingToDevice{Events: []todevice.Message{}}
		ack, _ := strconv.ParseInt(x.ToDevice.Since, 10, 64) // validated by the parser
		out.NextBatch = strconv.FormatInt(ack, 10)
		if tr != nil {
			limit := toDeviceSyncLimit
			if l := x.ToDevice.Limit; l != nil && *l > 0 {
				limit = min(*l, toDeviceSyncLimit)
			}
			// Not cancelled by shutdown: deleting acknowledged messages and
			// reading the next ones belong together.
			msgs, last, err := tr.td.Inbox(context.WithoutCancel(ctx), h.dev.UserID, h.dev.DeviceID, ack, limit)
			if err != nil {
				return 0, false, fmt.Errorf("to-device inbox of %s/%s: %w", h.dev.UserID, h.dev.DeviceID, err)
			}
			out.Events, out.NextBatch = msgs, strconv.FormatInt(last, 10)
			news = len(msgs) > 0
		}
		resp.Extensions.ToDevice = out
	}
	if x.E2EE.On() {
		lists := &deviceLists{Changed: []string{}, Left: []string{}}
		if tr != nil {
			var err error
			if keysPos, err = tr.td.DeviceListPos(ctx); err != nil {
				return 0, false, err
			}
			if !initial && keysPos > since {
				if lists, err = h.api.deviceListChanges(ctx, h.dev, since, keysPos); err != nil {
					return 0, false, err
				}
			}
			if !initial && st.RoomsPos > st.RoomsSince {
				byRoom, err := h.rr.svc.SlidingMemberEvents(ctx, h.dev, st.RoomsSince, st.RoomsPos)
				if err != nil {
					return 0, false, err
				}
				h.api.addMembershipChanges(ctx, h.dev, asSyncResponse(byRoom), lists)
			}
		}
		counts, fallback, err := h.api.DeviceKeyCounts(ctx, h.dev)
		if err != nil {
			return 0, false, fmt.Errorf("key counts of %s/%s: %w", h.dev.UserID, h.dev.DeviceID, err)
		}
		if counts == nil {
			counts = map[string]int{}
		}
		if fallback == nil {
			fallback = []string{}
		}
		resp.Extensions.E2EE = &slidingE2EE{DeviceLists: lists, OneTimeKeysCount: counts, UnusedFallbackKeyTypes: fallback}
		news = news || len(lists.Changed)+len(lists.Left) > 0
	}
	return keysPos, news, nil
}

// asSyncResponse presents membership events per joined room the way
// addMembershipChanges reads a /sync response, so that device list
// tracking has one implementation.
func asSyncResponse(byRoom map[string][]json.RawMessage) *rooms.SyncResponse {
	out := &rooms.SyncResponse{Rooms: rooms.SyncRooms{Join: map[string]*rooms.JoinedRoom{}}}
	for id, evs := range byRoom {
		out.Rooms.Join[id] = &rooms.JoinedRoom{Timeline: rooms.Timeline{Events: evs}}
	}
	return out
}
