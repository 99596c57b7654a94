package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"scop/clientapi"
	"scop/homeserver"
	"scop/homeserver/accounts"
	"scop/homeserver/accounts/sqlitestore"
	"scop/homeserver/storage/sqlite"
)

// AccountsService is what the room services need from accounts.
type AccountsService interface {
	// Profile returns a local user's display name and avatar URL, or a
	// *homeserver.Error M_NOT_FOUND when the user does not exist.
	Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error)
}

// roomLeaver is implemented by a rooms service that can make a
// deactivated user leave every room it is in.
type roomLeaver interface {
	LeaveAllRooms(ctx context.Context, userID string) error
}

// roomMember is the part of the rooms service that lets deactivation
// leave a user's rooms when the service has no LeaveAllRooms.
type roomMember interface {
	JoinedRooms(ctx context.Context, dev homeserver.Device) []string
	Leave(ctx context.Context, dev homeserver.Device, roomID, reason string) error
}

// pushRulesSink is implemented by a rooms service that publishes a user's
// push rules as m.push_rules account data in /sync.
type pushRulesSink interface {
	PutPushRules(ctx context.Context, userID string, content json.RawMessage) error
}

// initAccounts builds the accounts service and the client API (which
// authenticates through it) and registers the account routes.
func (a *App) initAccounts(ctx context.Context) error {
	store, err := sqlitestore.New(ctx, a.DB)
	if err != nil {
		return err
	}
	svc := accounts.New(store, a.ServerName, accounts.Options{BcryptCost: a.Config.Accounts.BcryptCost})
	a.Accounts = svc
	var ass []accounts.AppService
	for i, f := range a.Config.AppServices {
		if !filepath.IsAbs(f) {
			f = filepath.Join(a.Config.DataDir, f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("app_services[%d]: %w", i, err)
		}
		as, err := accounts.ParseAppService(data)
		if err != nil {
			return fmt.Errorf("app_services[%d] (%s): %w", i, f, err)
		}
		ass = append(ass, as)
	}
	if err := svc.SetAppServices(ctx, ass); err != nil {
		return fmt.Errorf("app_services: %w", err)
	}
	a.AppServices = ass
	a.newAppServices(ass)
	ca := a.Config.ClientAPI
	a.API = clientapi.New(svc, a.Log, ca.MaxBodyBytes)
	if rl := ca.RateLimits; rl.Enabled {
		a.API.SetRateLimit("login", rl.Login.PerSecond, rl.Login.Burst)
		a.API.SetRateLimit("register", rl.Register.PerSecond, rl.Register.Burst)
		a.API.SetRateLimit("send", rl.Send.PerSecond, rl.Send.Burst)
	}
	a.API.RegisterAccounts(accountsWithQueries{svc, a.AppServiceSvc}, clientapi.AccountOptions{
		RegistrationEnabled: ca.Registration.Enabled,
		RegistrationToken:   ca.Registration.Token,
		DefaultRoomVersion:  a.Config.Rooms.DefaultVersion,
		PublicBaseURL:       ca.PublicBaseURL,
		OnProfileChange: func(ctx context.Context, userID, displayName, avatarURL string) error {
			if a.Rooms == nil {
				return nil
			}
			return a.Rooms.UpdateProfile(ctx, userID, displayName, avatarURL)
		},
		OnPushRulesChange: func(ctx context.Context, userID string, content json.RawMessage) error {
			if p, ok := a.Rooms.(pushRulesSink); ok {
				return p.PutPushRules(ctx, userID, content)
			}
			return nil
		},
		OnDeactivate: func(ctx context.Context, userID string) error {
			// A deactivated account gets no more notifications.
			if a.Push != nil {
				if err := a.Push.RemoveUser(ctx, userID); err != nil {
					return fmt.Errorf("remove pushers: %w", err)
				}
			}
			if l, ok := a.Rooms.(roomLeaver); ok {
				return l.LeaveAllRooms(ctx, userID)
			}
			if m, ok := a.Rooms.(roomMember); ok {
				dev := homeserver.Device{UserID: userID}
				for _, room := range m.JoinedRooms(ctx, dev) {
					if err := m.Leave(ctx, dev, room, "Account deactivated"); err != nil {
						return fmt.Errorf("leave %s: %w", room, err)
					}
				}
			}
			return nil
		},
	})
	return nil
}

// AddUser creates an account in the data folder of cfg without starting
// the server (SQLite's WAL and busy timeout let it run beside one).
func AddUser(ctx context.Context, cfg Config, localpart, password string, admin bool) (string, error) {
	db, err := sqlite.Open(filepath.Join(cfg.DataDir, "homeserver.db"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	svc := accounts.New(store, cfg.ServerName, accounts.Options{BcryptCost: cfg.Accounts.BcryptCost})
	return svc.Register(ctx, localpart, password, admin)
}

// SetPassword replaces a user's password in the data folder of cfg and,
// with logout, deletes all the user's devices. A running server stops
// accepting the old tokens within a minute (its token cache rechecks).
func SetPassword(ctx context.Context, cfg Config, localpart, password string, logout bool) (string, error) {
	db, err := sqlite.Open(filepath.Join(cfg.DataDir, "homeserver.db"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	svc := accounts.New(store, cfg.ServerName, accounts.Options{BcryptCost: cfg.Accounts.BcryptCost})
	userID := svc.UserID(localpart)
	if _, _, err := svc.Profile(ctx, userID); err != nil {
		return "", err
	}
	return userID, svc.SetPassword(ctx, userID, password, logout, "")
}
