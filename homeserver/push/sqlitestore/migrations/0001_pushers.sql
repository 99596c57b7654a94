CREATE TABLE pushers (
	user_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	pushkey TEXT NOT NULL,
	kind TEXT NOT NULL,
	app_display_name TEXT NOT NULL,
	device_display_name TEXT NOT NULL,
	profile_tag TEXT NOT NULL DEFAULT '',
	lang TEXT NOT NULL,
	data TEXT NOT NULL,
	pushkey_ts INTEGER NOT NULL,
	PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_by_key ON pushers (app_id, pushkey);
CREATE TABLE pusher_position (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pos INTEGER NOT NULL
);
