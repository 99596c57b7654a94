CREATE TABLE accounts_users (
	localpart     TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	is_admin      INTEGER NOT NULL DEFAULT 0,
	display_name  TEXT NOT NULL DEFAULT '',
	avatar_url    TEXT NOT NULL DEFAULT '',
	created_ts    INTEGER NOT NULL
);

CREATE TABLE accounts_devices (
	user_id      TEXT NOT NULL,
	device_id    TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	token_hash   BLOB NOT NULL UNIQUE,
	created_ts   INTEGER NOT NULL,
	last_seen_ts INTEGER NOT NULL,
	last_seen_ip TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (user_id, device_id)
);
