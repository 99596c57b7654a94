-- Deactivated accounts keep their row so that the ID is never reused.
ALTER TABLE accounts_users ADD COLUMN deactivated INTEGER NOT NULL DEFAULT 0;
