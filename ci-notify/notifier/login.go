package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"scop/ci-notify/store"
)

// newClient makes a mautrix client with ci-notify's settings: its own
// retries off (Retry does them, honouring retry_after_ms), a request
// timeout, and mautrix's zerolog output silenced (ci-notify logs with slog).
func newClient(homeserver string, user id.UserID, token string) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(homeserver, user, token)
	if err != nil {
		return nil, fmt.Errorf("matrix client for %s: %w", homeserver, err)
	}
	cli.DefaultHTTPRetries = 0
	cli.Client = &http.Client{Timeout: 60 * time.Second}
	cli.Log = zerolog.Nop()
	cli.UserAgent = "ci-notify (SCoP)"
	return cli, nil
}

// Login returns a logged-in client. With an access token it checks the token
// (whoami). With a password it reuses the session stored by an earlier run
// (same device, so transaction IDs and encryption keys carry over) and logs
// in again, on the same device ID, only if that session is gone.
func Login(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (*mautrix.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	retry := cfg.Retry
	if cfg.AccessToken != "" {
		cli, err := newClient(cfg.Homeserver, "", cfg.AccessToken)
		if err != nil {
			return nil, err
		}
		var who *mautrix.RespWhoami
		if err := retry.do(ctx, log, nil, func(ctx context.Context) error {
			who, err = cli.Whoami(ctx)
			return err
		}); err != nil {
			return nil, fmt.Errorf("check access token: %w", err)
		}
		cli.UserID, cli.DeviceID = who.UserID, who.DeviceID
		return cli, nil
	}
	var device id.DeviceID
	if ss, err := st.Session(ctx); err == nil && ss.Homeserver == cfg.Homeserver && sameUser(ss.UserID, cfg.User) {
		device = id.DeviceID(ss.DeviceID)
		cli, err := newClient(cfg.Homeserver, id.UserID(ss.UserID), ss.AccessToken)
		if err != nil {
			return nil, err
		}
		cli.DeviceID = device
		err = retry.do(ctx, log, nil, func(ctx context.Context) error {
			_, err := cli.Whoami(ctx)
			return err
		})
		if err == nil {
			return cli, nil
		}
		if !errors.Is(err, mautrix.MUnknownToken) {
			return nil, fmt.Errorf("check stored session: %w", err)
		}
		log.Info("stored session expired; logging in again", "user_id", ss.UserID, "device_id", ss.DeviceID)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	cli, err := newClient(cfg.Homeserver, "", "")
	if err != nil {
		return nil, err
	}
	var resp *mautrix.RespLogin
	if err := retry.do(ctx, log, nil, func(ctx context.Context) error {
		resp, err = cli.Login(ctx, &mautrix.ReqLogin{
			Type:                     mautrix.AuthTypePassword,
			Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: cfg.User},
			Password:                 cfg.Password,
			DeviceID:                 device,
			InitialDeviceDisplayName: "ci-notify",
			StoreCredentials:         true,
		})
		return err
	}); err != nil {
		return nil, fmt.Errorf("log in as %s: %w", cfg.User, err)
	}
	if err := st.SetSession(ctx, store.Session{Homeserver: cfg.Homeserver, UserID: string(resp.UserID),
		DeviceID: string(resp.DeviceID), AccessToken: resp.AccessToken}); err != nil {
		return nil, err
	}
	log.Info("logged in", "user_id", resp.UserID, "device_id", resp.DeviceID)
	return cli, nil
}

// sameUser compares a full Matrix ID with a configured user (ID or localpart).
func sameUser(full, configured string) bool {
	if strings.HasPrefix(configured, "@") {
		return full == configured
	}
	local, _, err := id.UserID(full).Parse()
	return err == nil && local == configured
}
