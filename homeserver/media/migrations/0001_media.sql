CREATE TABLE media (
	media_id     TEXT PRIMARY KEY,
	content_type TEXT NOT NULL,
	filename     TEXT NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	sha256       TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	created_ts   INTEGER NOT NULL
);
