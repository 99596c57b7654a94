-- Each user's changes to the push rules: rules of their own and the
-- enabled/actions overrides of predefined rules, as one JSON document.
CREATE TABLE accounts_push_rules (
	user_id TEXT PRIMARY KEY,
	rules   TEXT NOT NULL
);
