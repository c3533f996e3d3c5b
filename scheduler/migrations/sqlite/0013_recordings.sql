-- Recordings, their part files (stored when opened, so a crash never orphans a file),
-- and post-production jobs (persisted so that a restart resumes them).
CREATE TABLE recordings (
    id          TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    started_at  TEXT NOT NULL,
    stopped_at  TEXT,
    state       TEXT NOT NULL CHECK (state IN ('recording', 'stopped', 'interrupted')),
    error       TEXT
);
CREATE INDEX recordings_by_session ON recordings(session_id, started_at);

CREATE TABLE recording_parts (
    id            TEXT PRIMARY KEY NOT NULL,
    recording_id  TEXT NOT NULL REFERENCES recordings(id),
    participant   TEXT NOT NULL,
    source        TEXT NOT NULL,
    codec         TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    path          TEXT NOT NULL UNIQUE,
    offset_ms     INTEGER NOT NULL,
    opened_at     TEXT NOT NULL,
    closed        INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
    clean         INTEGER NOT NULL DEFAULT 0 CHECK (clean IN (0, 1)),
    bytes         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX recording_parts_by_recording ON recording_parts(recording_id, offset_ms);

CREATE TABLE production_jobs (
    id            TEXT PRIMARY KEY NOT NULL,
    recording_id  TEXT NOT NULL UNIQUE REFERENCES recordings(id),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      INTEGER NOT NULL,
    progress      REAL NOT NULL,
    error         TEXT,
    outputs       TEXT,
    updated_at    TEXT NOT NULL
);

-- Whether a session is recorded automatically (defenses: yes unless the booking says
-- no; training: the trainer decides). No row: the kind's default.
CREATE TABLE recording_policies (
    session_id  TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id),
    record      INTEGER NOT NULL CHECK (record IN (0, 1))
);
