-- Server-side key backups (spec: "Server-side key backups"): versions of a
-- user's backup and the encrypted room keys in each.
CREATE TABLE accounts_backup_versions (
	user_id   TEXT NOT NULL,
	version   INTEGER NOT NULL,
	algorithm TEXT NOT NULL,
	auth_data TEXT NOT NULL,
	etag      INTEGER NOT NULL DEFAULT 0,
	deleted   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, version)
);

CREATE TABLE accounts_backup_keys (
	user_id             TEXT NOT NULL,
	version             INTEGER NOT NULL,
	room_id             TEXT NOT NULL,
	session_id          TEXT NOT NULL,
	first_message_index INTEGER NOT NULL,
	forwarded_count     INTEGER NOT NULL,
	is_verified         INTEGER NOT NULL,
	session_data        TEXT NOT NULL,
	PRIMARY KEY (user_id, version, room_id, session_id)
);
