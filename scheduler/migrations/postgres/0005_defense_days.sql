CREATE TABLE defense_days (
    id                   UUID PRIMARY KEY,
    date                 DATE NOT NULL,
    time_zone            TEXT NOT NULL,
    day_start            TEXT NOT NULL,
    slots                INTEGER NOT NULL CHECK (slots BETWEEN 1 AND 128),
    presentation_minutes INTEGER NOT NULL,
    qa_minutes           INTEGER NOT NULL,
    deliberation_minutes INTEGER NOT NULL,
    buffer_minutes       INTEGER NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
ALTER TABLE sessions ADD COLUMN defense_day_id UUID REFERENCES defense_days(id);
ALTER TABLE sessions ADD COLUMN panel_id UUID REFERENCES panels(id);
