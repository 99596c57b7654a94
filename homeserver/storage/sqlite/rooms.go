package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scop/homeserver/storage"
)

//go:embed migrations/rooms/*.sql
var roomsMigrations embed.FS

// RoomsStore implements storage.RoomsDB, storage.AliasDB and
// storage.UserDataDB on one SQLite database. Batches are written on one
// dedicated connection whose prepared statements are reused, since
// parsing SQL would otherwise cost more than the inserts.
type RoomsStore struct {
	db *sql.DB

	wmu    sync.Mutex
	wconn  *sql.Conn
	wstmts map[string]*sql.Stmt

	rmu    sync.Mutex
	rstmts map[string]*sql.Stmt

	commits  atomic.Int64 // commits since the last checkpoint
	stopCkpt chan struct{}
	ckptDone chan struct{}
}

// checkpointEvery is how often the WAL is checkpointed in the background.
const checkpointEvery = 500 * time.Millisecond

var (
	_ storage.RoomsDB    = (*RoomsStore)(nil)
	_ storage.AliasDB    = (*RoomsStore)(nil)
	_ storage.UserDataDB = (*RoomsStore)(nil)
)

// NewRoomsStore applies the "rooms" migrations to db and returns the store.
func NewRoomsStore(ctx context.Context, db *sql.DB) (*RoomsStore, error) {
	if err := Migrate(ctx, db, "rooms", roomsMigrations, "migrations/rooms"); err != nil {
		return nil, err
	}
	s := &RoomsStore{db: db, wstmts: map[string]*sql.Stmt{}, rstmts: map[string]*sql.Stmt{},
		stopCkpt: make(chan struct{}), ckptDone: make(chan struct{})}
	go s.checkpointLoop()
	return s, nil
}

// checkpointLoop copies the WAL into the database file in the background.
// The writer connection has automatic checkpoints off, so a commit never
// pays for a checkpoint (which would add its fsync to some requests).
func (s *RoomsStore) checkpointLoop() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-t.C:
		}
		if s.commits.Swap(0) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		cancel()
	}
}

// Close stops the checkpointer and releases the writer connection and
// the prepared statements.
func (s *RoomsStore) Close() error {
	select {
	case <-s.stopCkpt:
	default:
		close(s.stopCkpt)
	}
	<-s.ckptDone
	s.rmu.Lock()
	for _, st := range s.rstmts {
		st.Close()
	}
	s.rstmts = map[string]*sql.Stmt{}
	s.rmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, st := range s.wstmts {
		st.Close()
	}
	s.wstmts = map[string]*sql.Stmt{}
	if s.wconn != nil {
		err := s.wconn.Close()
		s.wconn = nil
		return err
	}
	return nil
}

// readStmt returns a cached prepared statement for a read query.
func (s *RoomsStore) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if st := s.rstmts[q]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.rstmts[q] = st
	return st, nil
}

// MaxNIDs implements storage.RoomsDB.
func (s *RoomsStore) MaxNIDs(ctx context.Context) (storage.NIDs, error) {
	var n storage.NIDs
	var adPos, rcPos int64
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(room_nid),0) FROM rooms),
		(SELECT COALESCE(MAX(event_nid),0) FROM events),
		(SELECT COALESCE(MAX(nid),0) FROM event_types),
		(SELECT COALESCE(MAX(nid),0) FROM state_keys),
		(SELECT COALESCE(MAX(nid),0) FROM state_snapshots),
		(SELECT COALESCE(MAX(pos),0) FROM events),
		(SELECT COALESCE(MAX(pos),0) FROM account_data),
		(SELECT COALESCE(MAX(pos),0) FROM receipts)`).Scan(
		&n.Room, &n.Event, &n.Type, &n.StateKey, &n.Snapshot, &n.StreamPos, &adPos, &rcPos)
	if err != nil {
		return n, fmt.Errorf("max nids: %w", err)
	}
	n.StreamPos = max(n.StreamPos, adPos, rcPos)
	return n, nil
}

// Write implements storage.RoomsDB: one transaction, one fsync.
func (s *RoomsStore) Write(ctx context.Context, b *storage.Batch) (err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wconn == nil {
		if s.wconn, err = s.db.Conn(ctx); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		if _, err = s.wconn.ExecContext(ctx, `PRAGMA wal_autocheckpoint=0`); err != nil {
			s.resetWriterLocked()
			return fmt.Errorf("write batch: %w", err)
		}
	}
	// A manual transaction on the dedicated connection: database/sql's Tx
	// would re-prepare every statement prepared on a Conn. BEGIN and
	// COMMIT are prepared too, since parsing them costs more than running.
	if err = s.execWriterLocked(ctx, "BEGIN IMMEDIATE"); err != nil {
		// The connection may be broken: start afresh next time.
		s.resetWriterLocked()
		return fmt.Errorf("write batch: begin: %w", err)
	}
	defer func() {
		if err != nil {
			if _, rerr := s.wconn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				s.resetWriterLocked()
			}
		}
	}()
	exec := func(q string, rows int, args func(i int) []any) error {
		if rows == 0 {
			return nil
		}
		ps := s.wstmts[q]
		if ps == nil {
			if ps, err = s.wconn.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("write batch: prepare: %w", err)
			}
			s.wstmts[q] = ps
		}
		st := ps
		for i := 0; i < rows; i++ {
			if _, err := st.ExecContext(ctx, args(i)...); err != nil {
				return fmt.Errorf("write batch: %s: %w", strings.Fields(q)[2], err)
			}
		}
		return nil
	}
	rooms := lastRoomHeads(b.Rooms)
	if err = exec(`INSERT OR IGNORE INTO event_types(nid, name) VALUES (?, ?)`, len(b.Types), func(i int) []any {
		return []any{b.Types[i].NID, b.Types[i].Name}
	}); err != nil {
		return err
	}
	if err = exec(`INSERT OR IGNORE INTO state_keys(nid, name) VALUES (?, ?)`, len(b.StateKeys), func(i int) []any {
		return []any{b.StateKeys[i].NID, b.StateKeys[i].Name}
	}); err != nil {
		return err
	}
	if err = exec(`INSERT INTO rooms(room_nid, room_id, version, snapshot, chain_len, latest_events, depth, last_pos, published)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_nid) DO UPDATE SET snapshot=excluded.snapshot,
		chain_len=excluded.chain_len, latest_events=excluded.latest_events, depth=excluded.depth, last_pos=excluded.last_pos`,
		len(rooms), func(i int) []any {
			r := rooms[i]
			return []any{r.NID, r.RoomID, r.Version, r.Snapshot, r.ChainLen, strings.Join(r.LatestEvents, ","), r.Depth, r.LastPos, r.Published}
		}); err != nil {
		return err
	}
	// One row per statement: a multi-row INSERT makes SQLite keep a
	// statement journal, which costs more than the statements it saves.
	if err = exec(`INSERT INTO events(event_nid, event_id, room_nid, pos, type_nid, state_key_nid, is_state, sender,
		state_before, txn_device, txn_id, pdu, client, unsigned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		len(b.Events), func(i int) []any {
			e := &b.Events[i]
			return []any{e.NID, e.EventID, e.RoomNID, e.Pos, e.TypeNID, e.StateKeyNID, e.IsState, e.Sender,
				e.StateBefore, e.TxnDevice, e.TxnID, e.PDU, e.Client, e.Unsigned}
		}); err != nil {
		return err
	}
	if err = exec(`INSERT INTO state_snapshots(nid, room_nid, parent) VALUES (?, ?, ?)`, len(b.Snapshots), func(i int) []any {
		return []any{b.Snapshots[i].NID, b.Snapshots[i].RoomNID, b.Snapshots[i].Parent}
	}); err != nil {
		return err
	}
	var entries []any
	for _, sn := range b.Snapshots {
		for _, e := range sn.Entries {
			entries = append(entries, sn.NID, e.TypeNID, e.StateKeyNID, e.EventNID)
		}
	}
	if err = exec(`INSERT OR REPLACE INTO state_entries(snapshot, type_nid, state_key_nid, event_nid) VALUES (?, ?, ?, ?)`,
		len(entries)/4, func(i int) []any { return entries[i*4 : i*4+4] }); err != nil {
		return err
	}
	if err = exec(`INSERT INTO memberships(user_id, room_nid, membership, event_nid, pos, forgotten) VALUES (?, ?, ?, ?, ?, 0)
		ON CONFLICT(user_id, room_nid) DO UPDATE SET membership=excluded.membership, event_nid=excluded.event_nid,
		pos=excluded.pos, forgotten=0`, len(b.Memberships), func(i int) []any {
		m := b.Memberships[i]
		return []any{m.UserID, m.RoomNID, m.Membership, m.EventNID, m.Pos}
	}); err != nil {
		return err
	}
	if err = exec(`INSERT INTO account_data(user_id, room_id, type, content, pos) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(user_id, room_id, type) DO UPDATE SET content=excluded.content, pos=excluded.pos`,
		len(b.AccountData), func(i int) []any {
			a := b.AccountData[i]
			return []any{a.UserID, a.RoomID, a.Type, a.Content, a.Pos}
		}); err != nil {
		return err
	}
	if err = exec(`INSERT INTO receipts(room_nid, user_id, receipt_type, thread_id, event_id, ts, pos, event_pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(room_nid, user_id, receipt_type, thread_id) DO UPDATE SET event_id=excluded.event_id, ts=excluded.ts,
		pos=excluded.pos, event_pos=excluded.event_pos`,
		len(b.Receipts), func(i int) []any {
			r := b.Receipts[i]
			return []any{r.RoomNID, r.UserID, r.Type, r.ThreadID, r.EventID, r.TS, r.Pos, r.EventPos}
		}); err != nil {
		return err
	}
	if err = exec(`INSERT INTO room_aliases(alias, room_id, creator) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		len(b.Aliases), func(i int) []any {
			a := b.Aliases[i]
			return []any{a.Alias, a.RoomID, a.Creator}
		}); err != nil {
		return err
	}
	if err = exec(`UPDATE events SET pdu=?, client=?, unsigned=? WHERE event_nid=?`, len(b.Redactions), func(i int) []any {
		r := b.Redactions[i]
		return []any{r.PDU, r.Client, r.Unsigned, r.EventNID}
	}); err != nil {
		return err
	}
	if err = s.execWriterLocked(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("write batch: commit: %w", err)
	}
	s.commits.Add(1)
	return nil
}

// lastRoomHeads reduces a merged batch's room heads to one per room: the
// newest head (later submissions supersede earlier ones, as consecutive
// upserts would) with the columns an insert alone sets (room ID, version,
// published) from the first, so the result equals applying them in turn.
func lastRoomHeads(rooms []storage.Room) []storage.Room {
	if len(rooms) < 2 {
		return rooms
	}
	at := make(map[int64]int, len(rooms))
	out := make([]storage.Room, 0, len(rooms))
	for _, r := range rooms {
		i, ok := at[r.NID]
		if !ok {
			at[r.NID] = len(out)
			out = append(out, r)
			continue
		}
		first := out[i]
		r.RoomID, r.Version, r.Published = first.RoomID, first.Version, first.Published
		out[i] = r
	}
	return out
}

// execWriterLocked runs a cached prepared statement without arguments on
// the writer connection (s.wmu held).
func (s *RoomsStore) execWriterLocked(ctx context.Context, q string) error {
	st := s.wstmts[q]
	if st == nil {
		var err error
		if st, err = s.wconn.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("prepare %s: %w", q, err)
		}
		s.wstmts[q] = st
	}
	_, err := st.ExecContext(ctx)
	return err
}

func (s *RoomsStore) resetWriterLocked() {
	for _, st := range s.wstmts {
		st.Close()
	}
	s.wstmts = map[string]*sql.Stmt{}
	if s.wconn != nil {
		s.wconn.Close()
		s.wconn = nil
	}
}

// Names implements storage.RoomsDB.
func (s *RoomsStore) Names(ctx context.Context) (map[string]int64, map[string]int64, error) {
	load := func(table string) (map[string]int64, error) {
		rows, err := s.db.QueryContext(ctx, `SELECT nid, name FROM `+table)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", table, err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var nid int64
			var name string
			if err := rows.Scan(&nid, &name); err != nil {
				return nil, fmt.Errorf("load %s: %w", table, err)
			}
			m[name] = nid
		}
		return m, rows.Err()
	}
	types, err := load("event_types")
	if err != nil {
		return nil, nil, err
	}
	keys, err := load("state_keys")
	return types, keys, err
}

// RoomByID implements storage.RoomsDB.
func (s *RoomsStore) RoomByID(ctx context.Context, roomID string) (storage.Room, error) {
	var r storage.Room
	var latest string
	err := s.db.QueryRowContext(ctx, `SELECT room_nid, room_id, version, snapshot, chain_len, latest_events, depth, last_pos, published
		FROM rooms WHERE room_id=?`, roomID).Scan(&r.NID, &r.RoomID, &r.Version, &r.Snapshot, &r.ChainLen, &latest, &r.Depth, &r.LastPos, &r.Published)
	if errors.Is(err, sql.ErrNoRows) {
		return r, storage.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("room %s: %w", roomID, err)
	}
	if latest != "" {
		r.LatestEvents = strings.Split(latest, ",")
	}
	return r, nil
}

// ResolveSnapshot implements storage.RoomsDB with one recursive query
// over the snapshot chain.
func (s *RoomsStore) ResolveSnapshot(ctx context.Context, nid int64) ([]storage.StateEntry, error) {
	st, err := s.readStmt(ctx, `WITH RECURSIVE chain(nid, parent, depth) AS (
			SELECT nid, parent, 0 FROM state_snapshots WHERE nid = ?
			UNION ALL
			SELECT s.nid, s.parent, c.depth + 1 FROM state_snapshots s JOIN chain c ON s.nid = c.parent WHERE c.parent != 0)
		SELECT e.type_nid, e.state_key_nid, e.event_nid FROM chain c JOIN state_entries e ON e.snapshot = c.nid
		ORDER BY c.depth DESC`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, nid)
	if err != nil {
		return nil, fmt.Errorf("resolve snapshot %d: %w", nid, err)
	}
	defer rows.Close()
	type key struct{ t, k int64 }
	at := map[key]int{}
	var out []storage.StateEntry
	for rows.Next() {
		var e storage.StateEntry
		if err := rows.Scan(&e.TypeNID, &e.StateKeyNID, &e.EventNID); err != nil {
			return nil, fmt.Errorf("resolve snapshot %d: %w", nid, err)
		}
		if i, ok := at[key{e.TypeNID, e.StateKeyNID}]; ok {
			out[i] = e // a newer delta replaces the older entry
			continue
		}
		at[key{e.TypeNID, e.StateKeyNID}] = len(out)
		out = append(out, e)
	}
	return out, rows.Err()
}

const eventCols = `event_nid, event_id, room_nid, pos, type_nid, state_key_nid, is_state, sender, state_before, txn_device, txn_id, pdu, client, unsigned`

func scanEvents(rows *sql.Rows) ([]storage.Event, error) {
	defer rows.Close()
	var out []storage.Event
	for rows.Next() {
		var e storage.Event
		if err := rows.Scan(&e.NID, &e.EventID, &e.RoomNID, &e.Pos, &e.TypeNID, &e.StateKeyNID, &e.IsState, &e.Sender,
			&e.StateBefore, &e.TxnDevice, &e.TxnID, &e.PDU, &e.Client, &e.Unsigned); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventsByNID implements storage.RoomsDB.
func (s *RoomsStore) EventsByNID(ctx context.Context, nids []int64) ([]storage.Event, error) {
	var out []storage.Event
	for len(nids) > 0 {
		chunk := nids[:min(len(nids), 500)]
		nids = nids[len(chunk):]
		var sb strings.Builder
		for i, n := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(n, 10))
		}
		rows, err := s.db.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE event_nid IN (`+sb.String()+`)`)
		if err != nil {
			return nil, fmt.Errorf("events by nid: %w", err)
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// EventByID implements storage.RoomsDB.
func (s *RoomsStore) EventByID(ctx context.Context, eventID string) (storage.Event, error) {
	st, err := s.readStmt(ctx, `SELECT `+eventCols+` FROM events WHERE event_id=?`)
	if err != nil {
		return storage.Event{}, err
	}
	rows, err := st.QueryContext(ctx, eventID)
	if err != nil {
		return storage.Event{}, fmt.Errorf("event %s: %w", eventID, err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return storage.Event{}, err
	}
	if len(evs) == 0 {
		return storage.Event{}, storage.ErrNotFound
	}
	return evs[0], nil
}

// RoomEvents implements storage.RoomsDB.
func (s *RoomsStore) RoomEvents(ctx context.Context, roomNID, from, to int64, limit int, backwards bool) ([]storage.Event, error) {
	order := "ASC"
	if backwards {
		order = "DESC"
	}
	st, err := s.readStmt(ctx, `SELECT `+eventCols+` FROM events WHERE room_nid=? AND pos>? AND pos<=?
		ORDER BY pos `+order+` LIMIT ?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, roomNID, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("room events: %w", err)
	}
	return scanEvents(rows)
}

// RoomStateChanges implements storage.RoomsDB. It walks the partial
// index events_room_state_pos (state events only, in stream order), so
// a room's first visibility read after a start costs its state events,
// not its whole history.
func (s *RoomsStore) RoomStateChanges(ctx context.Context, roomNID int64, typeNIDs []int64, after, upTo int64, limit int) ([]storage.StateChange, error) {
	if len(typeNIDs) == 0 || limit <= 0 {
		return nil, nil
	}
	in := strings.Repeat("?,", len(typeNIDs))
	st, err := s.readStmt(ctx, roomStateChangesQuery(in[:len(in)-1]))
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 4+len(typeNIDs))
	args = append(args, roomNID, after, upTo)
	for _, t := range typeNIDs {
		args = append(args, t)
	}
	args = append(args, limit)
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("room state changes: %w", err)
	}
	defer rows.Close()
	var out []storage.StateChange
	for rows.Next() {
		var c storage.StateChange
		if err := rows.Scan(&c.Pos, &c.TypeNID, &c.PDU); err != nil {
			return nil, fmt.Errorf("room state changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("room state changes: %w", err)
	}
	return out, nil
}

// roomStateChangesQuery is RoomStateChanges' query for a list of type
// placeholders. The is_state=1 term is what lets SQLite use the partial
// index; ORDER BY pos follows the index, so LIMIT stops the walk early.
func roomStateChangesQuery(in string) string {
	return `SELECT pos, type_nid, pdu FROM events INDEXED BY events_room_state_pos
		WHERE room_nid=? AND is_state=1 AND pos>? AND pos<=? AND type_nid IN (` + in + `)
		ORDER BY pos LIMIT ?`
}

// Memberships implements storage.RoomsDB.
func (s *RoomsStore) Memberships(ctx context.Context) ([]storage.Membership, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.user_id, m.room_nid, r.room_id, m.membership, m.event_nid, m.pos, m.forgotten
		FROM memberships m JOIN rooms r ON r.room_nid=m.room_nid`)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	var out []storage.Membership
	for rows.Next() {
		var m storage.Membership
		if err := rows.Scan(&m.UserID, &m.RoomNID, &m.RoomID, &m.Membership, &m.EventNID, &m.Pos, &m.Forgotten); err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetForgotten implements storage.RoomsDB.
func (s *RoomsStore) SetForgotten(ctx context.Context, userID string, roomNID int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE memberships SET forgotten=1 WHERE user_id=? AND room_nid=?`, userID, roomNID); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	return nil
}

// RecentTxns implements storage.RoomsDB.
func (s *RoomsStore) RecentTxns(ctx context.Context, limit int) ([]storage.Txn, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.sender, e.txn_device, e.txn_id, e.event_id, COALESCE(t.name,'')='m.room.redaction'
		FROM events e LEFT JOIN event_types t ON t.nid=e.type_nid WHERE e.txn_id != '' ORDER BY e.pos DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent txns: %w", err)
	}
	defer rows.Close()
	var out []storage.Txn
	for rows.Next() {
		var t storage.Txn
		if err := rows.Scan(&t.UserID, &t.DeviceID, &t.TxnID, &t.EventID, &t.Redaction); err != nil {
			return nil, fmt.Errorf("recent txns: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CountEvents implements storage.RoomsDB.
func (s *RoomsStore) CountEvents(ctx context.Context, roomNID, after, upTo int64, typeNIDs []int64, notSender string, limit int) (int, error) {
	if len(typeNIDs) == 0 {
		return 0, nil
	}
	in := strings.Repeat("?,", len(typeNIDs))
	args := []any{roomNID, after, upTo, notSender}
	for _, t := range typeNIDs {
		args = append(args, t)
	}
	args = append(args, limit)
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE room_nid=? AND pos>? AND pos<=?
		AND sender!=? AND type_nid IN (`+in[:len(in)-1]+`) LIMIT ?)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Receipts implements storage.RoomsDB.
func (s *RoomsStore) Receipts(ctx context.Context, roomNID int64) ([]storage.Receipt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, receipt_type, thread_id, event_id, ts, pos, event_pos FROM receipts WHERE room_nid=?`, roomNID)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	defer rows.Close()
	var out []storage.Receipt
	for rows.Next() {
		r := storage.Receipt{RoomNID: roomNID}
		if err := rows.Scan(&r.UserID, &r.Type, &r.ThreadID, &r.EventID, &r.TS, &r.Pos, &r.EventPos); err != nil {
			return nil, fmt.Errorf("receipts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PublishedRooms implements storage.RoomsDB.
func (s *RoomsStore) PublishedRooms(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room_id FROM rooms WHERE published=1 ORDER BY room_nid`)
	if err != nil {
		return nil, fmt.Errorf("published rooms: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("published rooms: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SetPublished implements storage.RoomsDB.
func (s *RoomsStore) SetPublished(ctx context.Context, roomNID int64, published bool) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE rooms SET published=? WHERE room_nid=?`, published, roomNID); err != nil {
		return fmt.Errorf("set published: %w", err)
	}
	return nil
}
