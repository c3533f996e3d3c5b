CREATE TABLE phase_changes (
    id         BIGSERIAL PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    phase      TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX phase_changes_by_session ON phase_changes(session_id, id);
