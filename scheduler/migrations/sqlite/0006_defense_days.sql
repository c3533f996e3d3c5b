-- A planned defense day: its date and zone, the first slot's local start, and the slot
-- template. Booked defenses point to their day and their panel.
CREATE TABLE defense_days (
    id                   TEXT PRIMARY KEY NOT NULL,
    date                 TEXT NOT NULL,
    time_zone            TEXT NOT NULL,
    day_start            TEXT NOT NULL,
    slots                INTEGER NOT NULL CHECK (slots BETWEEN 1 AND 128),
    presentation_minutes INTEGER NOT NULL,
    qa_minutes           INTEGER NOT NULL,
    deliberation_minutes INTEGER NOT NULL,
    buffer_minutes       INTEGER NOT NULL,
    created_at           TEXT NOT NULL
);
ALTER TABLE sessions ADD COLUMN defense_day_id TEXT REFERENCES defense_days(id);
ALTER TABLE sessions ADD COLUMN panel_id TEXT REFERENCES panels(id);
