-- Live rooms' state (who is admitted, the phase and its deadline, controls, the day's
-- queue), saved as it changes so a restarted server rebuilds its rooms; the server's
-- heartbeat; and the spans when the server was away during a live session.
CREATE TABLE live_rooms (
    room_id  UUID PRIMARY KEY,
    state    TEXT NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE server_heartbeat (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    at         TIMESTAMPTZ NOT NULL,
    clean_stop BOOLEAN NOT NULL
);
CREATE TABLE server_gaps (
    session_id UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at   TIMESTAMPTZ NOT NULL,
    planned    BOOLEAN NOT NULL,
    PRIMARY KEY (session_id, started_at)
);
