package receiver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// AccountsMailboxes makes every homeserver account a mailbox: alice@domain
// for @alice:domain. It reads the homeserver database read-only, with the
// one query below, so mailstack does not import the homeserver; the table
// and column names follow homeserver/accounts/sqlitestore/migrations.
// Answers are cached for CacheTTL: a busy sender repeats its recipients.
type AccountsMailboxes struct {
	DB *sql.DB
	// CacheTTL is how long an answer is reused; zero means 10 seconds.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	exists bool
	until  time.Time
}

const maxCached = 10000

const accountExistsQuery = `SELECT 1 FROM accounts_users WHERE localpart = ?`

// Exists reports whether an account with this local part exists. Matrix
// local parts are lower case, so the mail local part is folded first.
func (a *AccountsMailboxes) Exists(ctx context.Context, localpart string) (bool, error) {
	key := strings.ToLower(localpart)
	now := time.Now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Before(c.until) {
		a.mu.Unlock()
		return c.exists, nil
	}
	a.mu.Unlock()
	var one int
	err := a.DB.QueryRowContext(ctx, accountExistsQuery, key).Scan(&one)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("look up account %q: %w", localpart, err)
	}
	ttl := a.CacheTTL
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) >= maxCached {
		a.cache = map[string]cached{}
	}
	a.cache[key] = cached{exists: exists, until: now.Add(ttl)}
	a.mu.Unlock()
	return exists, nil
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
