package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

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
}

// toDeviceSyncLimit bounds the to-device messages of one /sync answer; the
// rest come in the next ones.
const toDeviceSyncLimit = 100

// toDeviceMark separates the rooms part of a sync token from the
// to-device position. Rooms tokens ("s12_3") never contain it, so tokens
// issued before to-device messaging existed still parse (position 0).
const toDeviceMark = "_d"

// RegisterToDevice adds PUT /sendToDevice and makes /sync deliver the
// inbox of the requesting device.
func (a *API) RegisterToDevice(td ToDevice) {
	a.toDevice = td
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

// splitSyncToken separates a sync token into its rooms part and the
// to-device position it acknowledges.
func splitSyncToken(tok string) (string, int64, error) {
	roomsTok, d, ok := strings.Cut(tok, toDeviceMark)
	if !ok {
		return tok, 0, nil
	}
	pos, err := strconv.ParseInt(d, 10, 64)
	if err != nil || pos < 0 {
		return "", 0, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid sync token %q", tok)
	}
	return roomsTok, pos, nil
}

// syncWithToDevice runs the rooms part of /sync (sync) and adds the
// device's to-device inbox: a pending message answers at once, a new one
// wakes a parked long poll. The to-device position is appended to
// next_batch. It returns nil events when no inbox is registered.
func (a *API) syncWithToDevice(ctx context.Context, dev homeserver.Device, req rooms.SyncRequest,
	sync func(context.Context, homeserver.Device, rooms.SyncRequest) (*rooms.SyncResponse, error)) (*rooms.SyncResponse, *toDeviceEvents, error) {
	td := a.toDevice
	if td == nil {
		resp, err := sync(ctx, dev, req)
		return resp, nil, err
	}
	roomsTok, ack, err := splitSyncToken(req.Since)
	if err != nil {
		return nil, nil, err
	}
	req.Since = roomsTok
	// Taken before looking at the inbox so no delivery falls in between.
	changed := td.Changed(dev.UserID, dev.DeviceID)
	pending, err := td.Pending(ctx, dev.UserID, dev.DeviceID, ack)
	if err != nil {
		return nil, nil, err
	}
	if pending {
		req.Timeout = 0
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	woke := make(chan struct{})
	go func() {
		select {
		case <-changed:
			close(woke)
			cancel()
		case <-wctx.Done():
		}
	}()
	resp, err := sync(wctx, dev, req)
	if err != nil {
		// The wake-up may have cancelled the rooms part mid-build: build
		// it again without waiting.
		select {
		case <-woke:
			if ctx.Err() == nil {
				req.Timeout = 0
				resp, err = sync(ctx, dev, req)
			}
		default:
		}
		if err != nil {
			return nil, nil, err
		}
	}
	// Not cancelled by shutdown: the rooms part is built, so answer it.
	msgs, last, err := td.Inbox(context.WithoutCancel(ctx), dev.UserID, dev.DeviceID, ack, toDeviceSyncLimit)
	if err != nil {
		return nil, nil, err
	}
	resp.NextBatch += toDeviceMark + strconv.FormatInt(last, 10)
	return resp, &toDeviceEvents{Events: msgs}, nil
}

// roomsToken strips the to-device position from a sync token so that
// /messages accepts a next_batch as from or to.
func roomsToken(tok string) string {
	roomsTok, _, _ := strings.Cut(tok, toDeviceMark)
	return roomsTok
}
