-- A participant taken off a booking stays on record (their score sheet, ratings and
-- notifications keep pointing at them) but no longer holds a seat; their link's
-- generation goes up whenever it is revoked, so every older link stops working.
ALTER TABLE session_participants ADD COLUMN removed_at TEXT;
ALTER TABLE session_participants ADD COLUMN link_generation INTEGER NOT NULL DEFAULT 0;
