-- A session's stability verdict, kept when its raw 2-second samples are compacted into
-- one-minute aggregates after the session.
CREATE TABLE session_verdicts (
    session_id   TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    stable       INTEGER NOT NULL CHECK (stable IN (0, 1)),
    verdict      TEXT NOT NULL,
    compacted_at TEXT NOT NULL
);
