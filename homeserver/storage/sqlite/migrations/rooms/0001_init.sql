-- Rooms, events and state. Event types and state keys are numeric (NIDs);
-- state is stored as snapshots that are a parent plus a delta, with a full
-- checkpoint every so often, so storage grows with state changes rather
-- than with members x events.
CREATE TABLE rooms (
	room_nid INTEGER PRIMARY KEY,
	room_id TEXT NOT NULL UNIQUE,
	version TEXT NOT NULL,
	snapshot INTEGER NOT NULL,
	chain_len INTEGER NOT NULL,
	latest_events TEXT NOT NULL,
	depth INTEGER NOT NULL,
	last_pos INTEGER NOT NULL,
	published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE event_types (nid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE state_keys (nid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE events (
	event_nid INTEGER PRIMARY KEY,
	event_id TEXT NOT NULL UNIQUE,
	room_nid INTEGER NOT NULL,
	pos INTEGER NOT NULL UNIQUE,
	type_nid INTEGER NOT NULL,
	state_key_nid INTEGER NOT NULL,
	is_state INTEGER NOT NULL,
	sender TEXT NOT NULL,
	state_before INTEGER NOT NULL,
	txn_device TEXT NOT NULL DEFAULT '',
	txn_id TEXT NOT NULL DEFAULT '',
	pdu BLOB NOT NULL,
	client BLOB NOT NULL,
	unsigned BLOB NOT NULL
);
CREATE INDEX events_room_pos ON events(room_nid, pos);
CREATE TABLE state_snapshots (
	nid INTEGER PRIMARY KEY,
	room_nid INTEGER NOT NULL,
	parent INTEGER NOT NULL
);
CREATE TABLE state_entries (
	snapshot INTEGER NOT NULL,
	type_nid INTEGER NOT NULL,
	state_key_nid INTEGER NOT NULL,
	event_nid INTEGER NOT NULL,
	PRIMARY KEY (snapshot, type_nid, state_key_nid)
) WITHOUT ROWID;
CREATE TABLE memberships (
	user_id TEXT NOT NULL,
	room_nid INTEGER NOT NULL,
	membership TEXT NOT NULL,
	event_nid INTEGER NOT NULL,
	pos INTEGER NOT NULL,
	forgotten INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, room_nid)
) WITHOUT ROWID;
CREATE TABLE room_aliases (
	alias TEXT PRIMARY KEY,
	room_id TEXT NOT NULL,
	creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases(room_id);
CREATE TABLE account_data (
	user_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	type TEXT NOT NULL,
	content BLOB NOT NULL,
	pos INTEGER NOT NULL,
	PRIMARY KEY (user_id, room_id, type)
) WITHOUT ROWID;
CREATE TABLE sync_filters (
	filter_id INTEGER PRIMARY KEY,
	user_id TEXT NOT NULL,
	filter BLOB NOT NULL
);
