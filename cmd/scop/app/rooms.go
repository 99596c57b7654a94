package app

import (
	"context"
	"fmt"

	"scop/homeserver/rooms"
	"scop/homeserver/storage/sqlite"
)

// initRooms builds the rooms, state and sync services and registers their
// routes on a.API. It runs after initAccounts.
func (a *App) initRooms() error {
	ctx := context.Background()
	store, err := sqlite.NewRoomsStore(ctx, a.DB)
	if err != nil {
		return err
	}
	cfg := rooms.DefaultConfig()
	if v := a.Config.Rooms.DefaultVersion; v != "" {
		cfg.DefaultVersion = v
	}
	if a.CommitBatchSize != nil {
		cfg.OnCommit = func(writes int) { a.CommitBatchSize.Observe(float64(writes)) }
	}
	svc, err := rooms.New(ctx, cfg, rooms.Identity{ServerName: a.ServerName, KeyID: a.KeyID, Key: a.SigningKey},
		store, a.appServiceAliases(store), store, a.appServiceProfiles(), a.Log.With("area", "rooms"))
	if err != nil {
		return fmt.Errorf("rooms service: %w", err)
	}
	// Registered after the database closer, so it runs first at Close:
	// pending writes are flushed before the database closes.
	a.OnClose(func(context.Context) error {
		svc.Close()
		return store.Close()
	})
	a.API.RegisterRooms(svc)
	a.Rooms = svc
	return nil
}
