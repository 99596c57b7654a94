package receiver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// AccountsMailboxes makes every homeserver account a mailbox: alice@domain
// for @alice:domain. It reads the homeserver database read-only, with the
// one query below, so mailstack does not import the homeserver; the table
// and column names follow homeserver/accounts/sqlitestore/migrations.
type AccountsMailboxes struct {
	DB *sql.DB
}

const accountExistsQuery = `SELECT 1 FROM accounts_users WHERE localpart = ?`

// Exists reports whether an account with this local part exists. Matrix
// local parts are lower case, so the mail local part is folded first.
func (a AccountsMailboxes) Exists(ctx context.Context, localpart string) (bool, error) {
	var one int
	err := a.DB.QueryRowContext(ctx, accountExistsQuery, strings.ToLower(localpart)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up account %q: %w", localpart, err)
	}
	return true, nil
}

// OpenAccountsDB opens the homeserver database at path read-only, for a
// receiver running outside `scop serve`.
func OpenAccountsDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
