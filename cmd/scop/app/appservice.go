package app

import (
	"context"
	"fmt"

	"scop/clientapi"
	"scop/homeserver/accounts"
	"scop/homeserver/appservice"
	"scop/homeserver/appservice/sqlitestore"
	"scop/homeserver/storage"
)

// newAppServices builds the application service side for the parsed
// registrations (called by initAccounts, before the routes that query
// application services are registered).
func (a *App) newAppServices(list []accounts.AppService) {
	a.AppServiceSvc = appservice.New(list, appservice.Options{ServerName: a.ServerName, Log: a.Log.With("area", "appservice"),
		Caller: func(ctx context.Context) string {
			d, _ := clientapi.DeviceFromContext(ctx)
			return d.AppServiceID
		}})
}

// accountsWithQueries is the accounts service as the client API sees it:
// GET /profile of an unknown user in an application service's namespace
// asks the application service first.
type accountsWithQueries struct {
	*accounts.Service
	as *appservice.Service
}

func (a accountsWithQueries) Profile(ctx context.Context, userID string) (string, string, error) {
	return a.as.Profile(ctx, a.Service, userID)
}

// appServiceAliases wraps the rooms' alias store: looking up an unknown
// alias in an application service's namespace asks it first.
func (a *App) appServiceAliases(db storage.AliasDB) storage.AliasDB {
	return a.AppServiceSvc.Aliases(db)
}

// appServiceProfiles wraps the profile lookups of the rooms service
// (invites): an unknown user in a namespace is asked for first.
func (a *App) appServiceProfiles() appservice.ProfileSource {
	return a.AppServiceSvc.Profiles(a.Accounts)
}

// initAppServices registers the ping route and the closer of the
// transaction senders; it runs after initRooms so that the senders stop
// before the rooms service does.
func (a *App) initAppServices(ctx context.Context) error {
	store, err := sqlitestore.New(ctx, a.DB)
	if err != nil {
		return fmt.Errorf("appservice: %w", err)
	}
	a.appServiceStore = store
	a.API.RegisterAppServices(a.AppServiceSvc)
	a.OnClose(func(context.Context) error {
		a.AppServiceSvc.Close()
		return nil
	})
	return nil
}

// startAppServices starts pushing transactions (from Start).
func (a *App) startAppServices(ctx context.Context) error {
	src, ok := a.Rooms.(appservice.Source)
	if !ok {
		return nil
	}
	if err := a.AppServiceSvc.Start(ctx, src, a.appServiceStore); err != nil {
		return fmt.Errorf("appservice: %w", err)
	}
	return nil
}
