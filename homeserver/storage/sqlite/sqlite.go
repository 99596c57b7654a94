// Package sqlite opens SCoP's SQLite databases (modernc.org/sqlite, no cgo)
// and applies embedded, versioned migrations. Stores for each area of the
// homeserver live beside this file and take the *sql.DB it returns.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database at path in WAL mode. Pragmas
// go in the DSN so that every pooled connection gets them; busy_timeout is
// set before journal_mode so that a locked file waits instead of failing.
func Open(path string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(ON)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
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

// Migrate applies, in order, the files NNNN_name.sql of dir in fsys that
// set has not yet recorded in the schema_migrations table. Each area of the
// schema (accounts, rooms, mail...) is its own set with its own numbering,
// so areas evolve independently inside one database file.
func Migrate(ctx context.Context, db *sql.DB, set string, fsys fs.FS, dir string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (set_name, version))`); err != nil {
		return fmt.Errorf("migrate %s: %w", set, err)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", set, err)
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			return fmt.Errorf("migrate %s: file %s is not named NNNN_name.sql", set, e.Name())
		}
		migs = append(migs, mig{v, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for _, m := range migs {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE set_name=? AND version=?`, set, m.version).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(fsys, dir+"/"+m.name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %s: %w", set, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(set_name, version) VALUES (?, ?)`, set, m.version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %s: %w", set, m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s %s: %w", set, m.name, err)
		}
	}
	return nil
}
