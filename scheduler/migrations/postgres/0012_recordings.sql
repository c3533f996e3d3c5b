-- Recordings, their part files (stored when opened, so a crash never orphans a file),
-- and post-production jobs (persisted so that a restart resumes them).
CREATE TABLE recordings (
    id          UUID PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions(id),
    started_at  TIMESTAMPTZ NOT NULL,
    stopped_at  TIMESTAMPTZ,
    state       TEXT NOT NULL CHECK (state IN ('recording', 'stopped', 'interrupted')),
    error       TEXT
);
CREATE INDEX recordings_by_session ON recordings(session_id, started_at);

CREATE TABLE recording_parts (
    id            UUID PRIMARY KEY,
    recording_id  UUID NOT NULL REFERENCES recordings(id),
    participant   TEXT NOT NULL,
    source        TEXT NOT NULL,
    codec         TEXT NOT NULL,
    idx           BIGINT NOT NULL,
    path          TEXT NOT NULL UNIQUE,
    offset_ms     BIGINT NOT NULL,
    opened_at     TIMESTAMPTZ NOT NULL,
    closed        BOOLEAN NOT NULL DEFAULT FALSE,
    clean         BOOLEAN NOT NULL DEFAULT FALSE,
    bytes         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX recording_parts_by_recording ON recording_parts(recording_id, offset_ms);

CREATE TABLE production_jobs (
    id            UUID PRIMARY KEY,
    recording_id  UUID NOT NULL UNIQUE REFERENCES recordings(id),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      BIGINT NOT NULL,
    progress      DOUBLE PRECISION NOT NULL,
    error         TEXT,
    outputs       TEXT,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Whether a session is recorded automatically (defenses: yes unless the booking says
-- no; training: the trainer decides). No row: the kind's default.
CREATE TABLE recording_policies (
    session_id  UUID PRIMARY KEY REFERENCES sessions(id),
    record      BOOLEAN NOT NULL
);
