-- Cross-signing keys of users: master, self_signing, user_signing.
CREATE TABLE accounts_cross_signing_keys (
	user_id  TEXT NOT NULL,
	usage    TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, usage)
);
