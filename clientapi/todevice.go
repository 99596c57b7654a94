package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"scop/homeserver"
	"scop/homeserver/rooms"
	"scop/homeserver/todevice"
)

// ToDevice is the to-device inbox (homeserver/todevice) as the client API
// uses it.
type ToDevice interface {
	// Send delivers messages idempotently per (sender device, txnID).
	Send(ctx context.Context, from todevice.Sender, txnID, typ string, messages map[string]map[string]json.RawMessage) error
	// Changed returns a channel closed at the next delivery to a device.
	Changed(userID, deviceID string) <-chan struct{}
	// Pending reports whether a device has messages after pos.
	Pending(ctx context.Context, userID, deviceID string, pos int64) (bool, error)
	// Inbox deletes a device's messages up to ack and returns those after.
	Inbox(ctx context.Context, userID, deviceID string, ack int64, limit int) ([]todevice.Message, int64, error)

	// DeviceListChanged records a change of a user's devices or keys.
	DeviceListChanged(ctx context.Context, userID string) error
	// DeviceListsChanged returns a channel closed at the next change.
	DeviceListsChanged() <-chan struct{}
	// DeviceListPos is the latest device list stream position.
	DeviceListPos(ctx context.Context) (int64, error)
	// DeviceListChanges lists users with changes in (from, to].
	DeviceListChanges(ctx context.Context, from, to int64) ([]string, error)
}

// RoomMates is what device lists need from the rooms service: whom the
// requester shares a room with.
type RoomMates interface {
	JoinedRooms(ctx context.Context, dev homeserver.Device) []string
	JoinedMembers(ctx context.Context, dev homeserver.Device, roomID string) (map[string]rooms.JoinedMember, error)
}

// toDeviceRoutes holds what RegisterToDevice was given.
type toDeviceRoutes struct {
	td    ToDevice
	mates RoomMates
}

// toDeviceSyncLimit bounds the to-device messages of one /sync answer; the
// rest come in the next ones.
const toDeviceSyncLimit = 100

// toDeviceMark separates the rooms part of a sync token from the
// to-device position, and deviceListMark that from the device list
// position: "s12_3_d5_k7". Rooms tokens ("s12_3") never contain them, so
// older tokens still parse (missing positions are 0).
const (
	toDeviceMark   = "_d"
	deviceListMark = "_k"
)

// RegisterToDevice adds PUT /sendToDevice and GET /keys/changes and makes
// /sync deliver the inbox of the requesting device and the device list
// changes of its room mates.
func (a *API) RegisterToDevice(td ToDevice, mates RoomMates) {
	a.toDevice = &toDeviceRoutes{td: td, mates: mates}
	a.Handle("GET /keys/changes", Authed, a.keyChanges)
	a.Handle("PUT /sendToDevice/{eventType}/{txnID}", Authed, func(r *http.Request) (any, error) {
		var body struct {
			Messages map[string]map[string]json.RawMessage `json:"messages"`
		}
		if err := DecodeJSON(r, &body); err != nil {
			return nil, err
		}
		if body.Messages == nil {
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "messages is required")
		}
		for user, byDevice := range body.Messages {
			for dev, c := range byDevice {
				if t := strings.TrimSpace(string(c)); !strings.HasPrefix(t, "{") {
					return nil, homeserver.Errorf(homeserver.ErrBadJSON, "content for %s %s must be a JSON object", user, dev)
				}
			}
		}
		dev := MustDevice(r)
		err := td.Send(r.Context(), todevice.Sender{UserID: dev.UserID, DeviceID: dev.DeviceID},
			r.PathValue("txnID"), r.PathValue("eventType"), body.Messages)
		if err != nil {
			return nil, err
		}
		return struct{}{}, nil
	})
}

// toDeviceEvents is the to_device section of /sync.
type toDeviceEvents struct {
	Events []todevice.Message `json:"events"`
}

// splitSyncToken separates a sync token into its rooms part, the
// to-device position it acknowledges and its device list position.
func splitSyncToken(tok string) (roomsTok string, ack, keys int64, err error) {
	roomsTok, rest, ok := strings.Cut(tok, toDeviceMark)
	if !ok {
		return tok, 0, 0, nil
	}
	d, k, hasK := strings.Cut(rest, deviceListMark)
	bad := homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid sync token %q", tok)
	if ack, err = strconv.ParseInt(d, 10, 64); err != nil || ack < 0 {
		return "", 0, 0, bad
	}
	if hasK {
		if keys, err = strconv.ParseInt(k, 10, 64); err != nil || keys < 0 {
			return "", 0, 0, bad
		}
	}
	return roomsTok, ack, keys, nil
}

// deviceLists is the device_lists section of /sync.
type deviceLists struct {
	Changed []string `json:"changed"`
	Left    []string `json:"left"`
}

// syncExtras are the sections of /sync this file adds.
type syncExtras struct {
	ToDevice    *toDeviceEvents
	DeviceLists *deviceLists
}

// syncWithToDevice runs the rooms part of /sync (svc.Sync) and adds the
// device's to-device inbox and its room mates' device list changes: a
// pending message answers at once, a new one (or a relevant device list
// change) wakes a parked long poll. The positions are appended to
// next_batch. The extras are empty when RegisterToDevice was not called.
func (a *API) syncWithToDevice(ctx context.Context, dev homeserver.Device, req rooms.SyncRequest, svc *rooms.Service) (*rooms.SyncResponse, syncExtras, error) {
	tr := a.toDevice
	if tr == nil {
		resp, err := svc.Sync(ctx, dev, req)
		return resp, syncExtras{}, err
	}
	td := tr.td
	initial := req.Since == ""
	roomsTok, ack, keysSince, err := splitSyncToken(req.Since)
	if err != nil {
		return nil, syncExtras{}, err
	}
	req.Since = roomsTok
	deadline := time.Now().Add(min(req.Timeout, 5*time.Minute))
	for {
		// Taken before looking at the inbox and the device list stream
		// so no change falls in between.
		changed := td.Changed(dev.UserID, dev.DeviceID)
		listsChanged := td.DeviceListsChanged()
		pending, err := td.Pending(ctx, dev.UserID, dev.DeviceID, ack)
		if err != nil {
			return nil, syncExtras{}, err
		}
		keysPos, err := td.DeviceListPos(ctx)
		if err != nil {
			return nil, syncExtras{}, err
		}
		var lists *deviceLists
		if !initial && keysPos > keysSince {
			if lists, err = a.deviceListChanges(ctx, dev, keysSince, keysPos); err != nil {
				return nil, syncExtras{}, err
			}
		}
		if pending || len(lists.changedUsers()) > 0 {
			req.Timeout = 0
		}
		resp, woken, err := parkUntil(ctx, dev, req, svc, changed, listsChanged)
		if err != nil {
			return nil, syncExtras{}, err
		}
		// Not cancelled by shutdown: the rooms part is built, so answer it.
		msgs, last, err := td.Inbox(context.WithoutCancel(ctx), dev.UserID, dev.DeviceID, ack, toDeviceSyncLimit)
		if err != nil {
			return nil, syncExtras{}, err
		}
		// A device list change of someone else wakes every parked sync;
		// one that concerns nobody here parks again.
		if woken && !initial && len(msgs) == 0 && len(lists.changedUsers()) == 0 && roomsEmpty(resp) && ctx.Err() == nil {
			if rest := time.Until(deadline); rest > 0 {
				req.Timeout = rest
				continue
			}
		}
		resp.NextBatch += toDeviceMark + strconv.FormatInt(last, 10) + deviceListMark + strconv.FormatInt(keysPos, 10)
		if lists == nil {
			lists = &deviceLists{Changed: []string{}, Left: []string{}}
		}
		if !initial {
			a.addMembershipChanges(ctx, dev, resp, lists)
		}
		return resp, syncExtras{ToDevice: &toDeviceEvents{Events: msgs}, DeviceLists: lists}, nil
	}
}

func (l *deviceLists) changedUsers() []string {
	if l == nil {
		return nil
	}
	return l.Changed
}

// parkUntil runs the rooms part of /sync, cutting its long poll short
// when one of the channels closes (woken).
func parkUntil(ctx context.Context, dev homeserver.Device, req rooms.SyncRequest, svc *rooms.Service, chs ...<-chan struct{}) (*rooms.SyncResponse, bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	woke := make(chan struct{})
	go func() {
		select {
		case <-chs[0]:
		case <-chs[1]:
		case <-wctx.Done():
			return
		}
		close(woke)
		cancel()
	}()
	resp, err := svc.Sync(wctx, dev, req)
	woken := false
	select {
	case <-woke:
		woken = true
	default:
	}
	if err != nil && woken && ctx.Err() == nil {
		// The wake-up may have cancelled the rooms part mid-build: build
		// it again without waiting.
		req.Timeout = 0
		resp, err = svc.Sync(ctx, dev, req)
	}
	return resp, woken, err
}

func roomsEmpty(r *rooms.SyncResponse) bool {
	return len(r.Rooms.Join)+len(r.Rooms.Invite)+len(r.Rooms.Leave)+len(r.AccountData.Events) == 0
}

// deviceListChanges returns the users sharing a room with dev (or dev's
// own user) whose device lists changed in (from, to].
func (a *API) deviceListChanges(ctx context.Context, dev homeserver.Device, from, to int64) (*deviceLists, error) {
	tr := a.toDevice
	users, err := tr.td.DeviceListChanges(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := &deviceLists{Changed: []string{}, Left: []string{}}
	if len(users) == 0 {
		return out, nil
	}
	mates := a.roomMateSet(ctx, dev)
	for _, u := range users {
		if mates[u] {
			out.Changed = append(out.Changed, u)
		}
	}
	return out, nil
}

// keyChanges serves GET /keys/changes: room mates whose device lists
// changed between two sync tokens. left stays empty: membership history
// is not consulted.
func (a *API) keyChanges(r *http.Request) (any, error) {
	q := r.URL.Query()
	if q.Get("from") == "" || q.Get("to") == "" {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "from and to are required")
	}
	_, _, from, err := splitSyncToken(q.Get("from"))
	if err != nil {
		return nil, err
	}
	_, _, to, err := splitSyncToken(q.Get("to"))
	if err != nil {
		return nil, err
	}
	return a.deviceListChanges(r.Context(), MustDevice(r), from, to)
}

// noteKeyChange wraps a handler that changes the caller's device list:
// after it succeeds, the change is recorded for room mates' syncs. With
// peek, only a body carrying device_keys counts (one-time key uploads do
// not change the device list).
func (a *API) noteKeyChange(h Handler, peek bool) Handler {
	return func(r *http.Request) (any, error) {
		counts := !peek
		if peek && r.Body != nil {
			data, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, homeserver.Errorf(homeserver.ErrTooLarge, "Request body too large")
			}
			r.Body = io.NopCloser(bytes.NewReader(data))
			var body struct {
				DeviceKeys json.RawMessage `json:"device_keys"`
			}
			if json.Unmarshal(data, &body) == nil && len(body.DeviceKeys) > 0 && string(body.DeviceKeys) != "null" {
				counts = true
			}
		}
		out, err := h(r)
		if err != nil || !counts || a.toDevice == nil {
			return out, err
		}
		if err := a.toDevice.td.DeviceListChanged(r.Context(), MustDevice(r).UserID); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// roomsToken strips the to-device position from a sync token so that
// /messages accepts a next_batch as from or to.
func roomsToken(tok string) string {
	roomsTok, _, _ := strings.Cut(tok, toDeviceMark)
	return roomsTok
}
