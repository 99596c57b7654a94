package spam

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
)

// Delta is a change of counts: messages learnt (negative when unlearnt)
// and, per feature, the change of the ham and spam message counts.
type Delta struct {
	Ham, Spam int
	Features  map[uint64][2]int32 // [0] ham, [1] spam
}

// NewDelta returns an empty Delta.
func NewDelta() *Delta { return &Delta{Features: map[uint64][2]int32{}} }

// Add records one message's features; sign is +1 to learn, -1 to unlearn.
func (d *Delta) Add(feats []uint64, isSpam bool, sign int32) {
	i := 0
	if isSpam {
		i = 1
		d.Spam += int(sign)
	} else {
		d.Ham += int(sign)
	}
	for _, h := range feats {
		c := d.Features[h]
		c[i] += sign
		d.Features[h] = c
	}
}

// Empty reports whether d changes nothing.
func (d *Delta) Empty() bool { return d.Ham == 0 && d.Spam == 0 && len(d.Features) == 0 }

// Store persists the filter's counts. Counts never go below zero.
type Store interface {
	// Load calls fn for every feature with its counts and returns the
	// numbers of ham and spam messages learnt.
	Load(ctx context.Context, fn func(feature uint64, ham, spam uint32)) (nham, nspam int, err error)
	// Apply adds d atomically: after an error nothing was applied.
	Apply(ctx context.Context, d *Delta) error
}

// SQLiteStore keeps the counts in two tables of a SQLite database.
type SQLiteStore struct{ db *sql.DB }

var _ Store = (*SQLiteStore)(nil)

// NewSQLiteStore creates its tables in db if needed (migration set "spam").
func NewSQLiteStore(ctx context.Context, db *sql.DB) (*SQLiteStore, error) {
	if err := migrate(ctx, db, "spam", []string{`
		CREATE TABLE spam_features (
			h    INTEGER PRIMARY KEY,  -- feature hash (uint64 stored as int64)
			ham  INTEGER NOT NULL,
			spam INTEGER NOT NULL
		);
		CREATE TABLE spam_totals (
			id   INTEGER PRIMARY KEY CHECK (id = 1),
			ham  INTEGER NOT NULL,
			spam INTEGER NOT NULL
		);
		INSERT INTO spam_totals (id, ham, spam) VALUES (1, 0, 0);`, `
		-- tokenizer: the TokenizerVersion that produced the stored
		-- features; databases from before this table hold version 1.
		CREATE TABLE spam_meta (
			id        INTEGER PRIMARY KEY CHECK (id = 1),
			tokenizer INTEGER NOT NULL
		);
		INSERT INTO spam_meta (id, tokenizer) VALUES (1, 1);`,
	}); err != nil {
		return nil, err
	}
	if err := checkTokenizerVersion(ctx, db); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

// TokenizerVersion numbers the feature format of Tokenize. Counts learnt
// under another version hash different tokens and mean nothing to this
// one; it changes whenever the tokenizer's output does.
//
//	1  words and OSB pairs, SHOUTING words in their own case
//	2  every word with a capital also in its own case; delivery agents',
//	   mail clients' and scanners' header fields ignored
//	3  the lowest hash bit marks top-level header features
const TokenizerVersion = 3

// checkTokenizerVersion empties counts learnt by another tokenizer version
// (in one transaction) and records the current one. A filter with empty
// counts answers unsure until retrained, which beats scoring with
// meaningless counts; the warning tells the admin to retrain.
func checkTokenizerVersion(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	defer tx.Rollback()
	var version, nham, nspam int
	if err := tx.QueryRowContext(ctx, `SELECT m.tokenizer, t.ham, t.spam FROM spam_meta m, spam_totals t WHERE m.id = 1 AND t.id = 1`).
		Scan(&version, &nham, &nspam); err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	if version == TokenizerVersion {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM spam_features`); err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE spam_totals SET ham = 0, spam = 0 WHERE id = 1`); err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE spam_meta SET tokenizer = ? WHERE id = 1`, TokenizerVersion); err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("spam: tokenizer version: %w", err)
	}
	if nham > 0 || nspam > 0 {
		slog.Warn("spam: the stored model was learnt by an older tokenizer and has been emptied; retrain it with `scop spam train`",
			"old_version", version, "version", TokenizerVersion, "ham", nham, "spam", nspam)
	}
	return nil
}

// Load implements Store.
func (s *SQLiteStore) Load(ctx context.Context, fn func(uint64, uint32, uint32)) (int, int, error) {
	var nham, nspam int
	if err := s.db.QueryRowContext(ctx, `SELECT ham, spam FROM spam_totals WHERE id = 1`).Scan(&nham, &nspam); err != nil {
		return 0, 0, fmt.Errorf("spam: load totals: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT h, ham, spam FROM spam_features`)
	if err != nil {
		return 0, 0, fmt.Errorf("spam: load features: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		var ham, spam uint32
		if err := rows.Scan(&h, &ham, &spam); err != nil {
			return 0, 0, fmt.Errorf("spam: load features: %w", err)
		}
		fn(uint64(h), ham, spam)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("spam: load features: %w", err)
	}
	return nham, nspam, nil
}

// Apply implements Store in one transaction.
func (s *SQLiteStore) Apply(ctx context.Context, d *Delta) error {
	if d.Empty() {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("spam: apply: %w", err)
	}
	defer tx.Rollback()
	up, err := tx.PrepareContext(ctx, `INSERT INTO spam_features (h, ham, spam) VALUES (?1, max(0, ?2), max(0, ?3))
		ON CONFLICT (h) DO UPDATE SET ham = max(0, ham + ?2), spam = max(0, spam + ?3)`)
	if err != nil {
		return fmt.Errorf("spam: apply: %w", err)
	}
	defer up.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM spam_features WHERE h = ? AND ham = 0 AND spam = 0`)
	if err != nil {
		return fmt.Errorf("spam: apply: %w", err)
	}
	defer del.Close()
	for h, c := range d.Features {
		if c[0] == 0 && c[1] == 0 {
			continue
		}
		if _, err := up.ExecContext(ctx, int64(h), c[0], c[1]); err != nil {
			return fmt.Errorf("spam: apply feature: %w", err)
		}
		if c[0] < 0 || c[1] < 0 {
			if _, err := del.ExecContext(ctx, int64(h)); err != nil {
				return fmt.Errorf("spam: apply feature: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE spam_totals SET ham = max(0, ham + ?), spam = max(0, spam + ?) WHERE id = 1`,
		d.Ham, d.Spam); err != nil {
		return fmt.Errorf("spam: apply totals: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("spam: apply commit: %w", err)
	}
	return nil
}

// migrate applies the numbered statements of set not yet recorded in
// schema_migrations, the table homeserver/storage/sqlite.Migrate also
// uses, so both can share one database file. (mailstack does not import
// the homeserver, hence this small twin.)
func migrate(ctx context.Context, db *sql.DB, set string, steps []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (set_name, version))`); err != nil {
		return fmt.Errorf("migrate %s: %w", set, err)
	}
	for i, step := range steps {
		version := i + 1
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE set_name = ? AND version = ?`,
			set, version).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
		if n > 0 {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
		if _, err := tx.ExecContext(ctx, step); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %d: %w", set, version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version) VALUES (?, ?)`, set, version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %d: %w", set, version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s %d: %w", set, version, err)
		}
	}
	return nil
}

// MemStore is a Store in memory, for tests and offline evaluation.
type MemStore struct {
	mu          sync.Mutex
	features    map[uint64]counts
	nham, nspam int
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{features: map[uint64]counts{}} }

// Load implements Store.
func (m *MemStore) Load(_ context.Context, fn func(uint64, uint32, uint32)) (int, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, c := range m.features {
		fn(h, c.ham, c.spam)
	}
	return m.nham, m.nspam, nil
}

// Apply implements Store.
func (m *MemStore) Apply(_ context.Context, d *Delta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, dc := range d.Features {
		c := m.features[h]
		c.ham, c.spam = addClamp(c.ham, dc[0]), addClamp(c.spam, dc[1])
		if c.ham == 0 && c.spam == 0 {
			delete(m.features, h)
		} else {
			m.features[h] = c
		}
	}
	m.nham, m.nspam = max(0, m.nham+d.Ham), max(0, m.nspam+d.Spam)
	return nil
}
