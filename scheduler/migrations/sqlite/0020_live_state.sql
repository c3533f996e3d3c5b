-- Live rooms' state (who is admitted, the phase and its deadline, controls, the day's
-- queue), saved as it changes so a restarted server rebuilds its rooms; the server's
-- heartbeat; and the spans when the server was away during a live session.
CREATE TABLE live_rooms (
    room_id  TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE TABLE server_heartbeat (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    at         TEXT NOT NULL,
    clean_stop INTEGER NOT NULL
);
CREATE TABLE server_gaps (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL,
    planned    INTEGER NOT NULL,
    PRIMARY KEY (session_id, started_at)
);
