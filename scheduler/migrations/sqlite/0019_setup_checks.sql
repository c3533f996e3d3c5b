-- A participant's set-up check, days before a session: what their browser, devices
-- and network path could do (figures and a verdict; no media is kept).
CREATE TABLE setup_checks (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    at             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    path           TEXT,
    rtt_ms         REAL,
    loss_percent   REAL,
    kbps           REAL,
    camera         INTEGER NOT NULL,
    microphone     INTEGER NOT NULL,
    verdict        TEXT NOT NULL
);
CREATE INDEX setup_checks_by_session ON setup_checks(session_id, at);
