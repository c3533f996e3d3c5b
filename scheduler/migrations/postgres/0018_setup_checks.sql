-- A participant's set-up check, days before a session: what their browser, devices
-- and network path could do (figures and a verdict; no media is kept).
CREATE TABLE setup_checks (
    id             UUID PRIMARY KEY,
    session_id     UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id UUID NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    at             TIMESTAMPTZ NOT NULL,
    user_agent     TEXT NOT NULL,
    path           TEXT,
    rtt_ms         DOUBLE PRECISION,
    loss_percent   DOUBLE PRECISION,
    kbps           DOUBLE PRECISION,
    camera         BOOLEAN NOT NULL,
    microphone     BOOLEAN NOT NULL,
    verdict        TEXT NOT NULL
);
CREATE INDEX setup_checks_by_session ON setup_checks(session_id, at);
