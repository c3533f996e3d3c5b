-- Stream measurements per session and participant (2-second intervals), connection
-- events, and the browsers' own reports: the raw material of stability verdicts.
CREATE TABLE stream_samples (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL,
    at             TEXT NOT NULL,
    seconds        REAL NOT NULL,
    direction      TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    packets        INTEGER NOT NULL,
    lost           INTEGER NOT NULL,
    kbps           REAL NOT NULL,
    jitter_ms      REAL NOT NULL,
    rtt_ms         REAL,
    keyframes      INTEGER NOT NULL,
    freezes        INTEGER NOT NULL
);
CREATE INDEX stream_samples_by_session ON stream_samples(session_id, at);

CREATE TABLE connection_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL,
    at             TEXT NOT NULL,
    event          TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX connection_events_by_session ON connection_events(session_id, at);
