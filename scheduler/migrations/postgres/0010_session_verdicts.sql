-- A session's stability verdict, kept when its raw 2-second samples are compacted into
-- one-minute aggregates after the session.
CREATE TABLE session_verdicts (
    session_id   UUID PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    stable       BOOLEAN NOT NULL,
    verdict      TEXT NOT NULL,
    compacted_at TIMESTAMPTZ NOT NULL
);
