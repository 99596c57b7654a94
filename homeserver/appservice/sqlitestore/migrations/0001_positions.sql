-- Per application service: the last stream position it acknowledged (or
-- that its sender skipped past), and the transaction being delivered, if
-- any, kept verbatim so that a restart resends it with the same ID.
CREATE TABLE appservice_positions (
	as_id       TEXT PRIMARY KEY,
	pos         INTEGER NOT NULL,
	pending_id  TEXT NOT NULL DEFAULT '',
	pending     BLOB,
	pending_end INTEGER NOT NULL DEFAULT 0
);
