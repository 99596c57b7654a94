package app

import "context"

// AccountsService is what the room services need from accounts.
type AccountsService interface {
	// Profile returns a local user's display name and avatar URL, or a
	// *homeserver.Error M_NOT_FOUND when the user does not exist.
	Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error)
}

// initAccounts builds the accounts service and registers its routes.
func (a *App) initAccounts() error { return nil }
