-- Stream of device list changes (device keys uploaded, cross-signing keys
-- replaced, devices deleted), for /sync's device_lists and /keys/changes.
CREATE TABLE device_list_changes (
	pos INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id TEXT NOT NULL
);
