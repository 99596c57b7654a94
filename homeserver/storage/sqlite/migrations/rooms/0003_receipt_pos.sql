-- The stream position of the receipted event, for unread counts.
ALTER TABLE receipts ADD COLUMN event_pos INTEGER NOT NULL DEFAULT 0;
