-- Read receipts: the newest per (room, user, type, thread).
CREATE TABLE receipts (
	room_nid INTEGER NOT NULL,
	user_id TEXT NOT NULL,
	receipt_type TEXT NOT NULL,
	thread_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	ts INTEGER NOT NULL,
	pos INTEGER NOT NULL,
	PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
) WITHOUT ROWID;
