-- Per-device inbox of send-to-device messages. pos is the stream position
-- a client acknowledges by syncing with a later token.
CREATE TABLE to_device_inbox (
	pos INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	sender TEXT NOT NULL,
	type TEXT NOT NULL,
	content TEXT NOT NULL
);
CREATE INDEX to_device_inbox_device ON to_device_inbox (user_id, device_id, pos);

-- Transaction IDs already handled, per sending device, so a retried PUT
-- does not deliver twice.
CREATE TABLE to_device_txns (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	txn_id TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id)
);
