package app

import (
	"context"
	"fmt"
	"strings"

	"scop/clientapi"
	"scop/homeserver/accounts"
	"scop/homeserver/todevice"
	"scop/homeserver/todevice/sqlitestore"
)

// deviceLister is the part of the accounts service that lists devices.
type deviceLister interface {
	Devices(ctx context.Context, userID string) ([]accounts.Device, error)
}

// deviceIDs adapts the accounts service to todevice.Devices.
type deviceIDs struct{ acc deviceLister }

func (d deviceIDs) DeviceIDs(ctx context.Context, userID string) ([]string, error) {
	ds, err := d.acc.Devices(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ds))
	for i, dev := range ds {
		ids[i] = dev.DeviceID
	}
	return ids, nil
}

// initToDevice builds the to-device inbox and registers PUT /sendToDevice
// and its /sync section. It runs after initAccounts.
func (a *App) initToDevice(ctx context.Context) error {
	acc, ok := a.Accounts.(deviceLister)
	if !ok {
		return fmt.Errorf("accounts service cannot list devices")
	}
	suffix := ":" + a.ServerName
	store, err := sqlitestore.New(ctx, a.DB)
	if err != nil {
		return fmt.Errorf("to-device: %w", err)
	}
	svc := todevice.New(store, deviceIDs{acc}, func(userID string) bool {
		return strings.HasSuffix(userID, suffix)
	})
	// Without the rooms service, device list changes reach only the
	// user's own devices.
	mates, _ := a.Rooms.(clientapi.RoomMates)
	a.API.RegisterToDevice(svc, mates)
	return nil
}
