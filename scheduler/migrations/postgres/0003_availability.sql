CREATE TABLE availability_windows (
    id        UUID PRIMARY KEY,
    person_id UUID NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('unavailable', 'preferred')),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT availability_interval CHECK (ends_at > starts_at)
);
CREATE INDEX availability_by_person ON availability_windows(person_id, starts_at);
