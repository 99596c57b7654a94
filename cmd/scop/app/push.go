package app

import (
	"context"
	"fmt"

	"scop/clientapi"
	"scop/homeserver/push"
	"scop/homeserver/push/sqlitestore"
)

// initPush builds the pushers service and registers the pushers routes;
// it runs after initRooms so that its worker stops before the rooms
// service does.
func (a *App) initPush(ctx context.Context) error {
	store, err := sqlitestore.New(ctx, a.DB)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	svc, err := push.New(ctx, store, push.Options{Log: a.Log.With("area", "push")})
	if err != nil {
		return err
	}
	a.Push = svc
	a.API.RegisterPushers(svc)
	if n, ok := a.Rooms.(clientapi.NotificationLister); ok {
		a.API.RegisterNotifications(n)
	}
	a.OnClose(func(context.Context) error {
		svc.Close()
		return nil
	})
	return nil
}

// startPush starts the worker that posts to Push Gateways (from Start).
func (a *App) startPush(ctx context.Context) error {
	src, ok := a.Rooms.(push.Source)
	if !ok || a.Push == nil {
		return nil
	}
	if err := a.Push.Start(ctx, src); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}
