// Package app wires SCoP's components into one process: it opens the
// databases, builds the services in dependency order with explicit
// arguments, binds the listeners and shuts everything down in reverse.
package app

import (
	"crypto/ed25519"
	"database/sql"
	"log/slog"

	"scop/clientapi"
)

// App is one running scop process. The fields are filled in by New in
// dependency order; each area's init function lives in its own file
// (accounts.go, rooms.go).
type App struct {
	Log        *slog.Logger
	ServerName string
	KeyID      string // "ed25519:..." of SigningKey
	SigningKey ed25519.PrivateKey
	DB         *sql.DB // the homeserver database (homeserver.db in the data folder)
	API        *clientapi.API

	// Set by initAccounts; used by initRooms for profiles and user checks.
	Accounts AccountsService
}
