-- When people cannot attend, and when applicants would prefer to defend. Times are
-- unix seconds, half-open.
CREATE TABLE availability_windows (
    id        TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('unavailable', 'preferred')),
    starts_at INTEGER NOT NULL,
    ends_at   INTEGER NOT NULL,
    CONSTRAINT availability_interval CHECK (ends_at > starts_at)
);
CREATE INDEX availability_by_person ON availability_windows(person_id, starts_at);
