-- Every agenda phase change of a session, with its time (chapters of the recording).
CREATE TABLE phase_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    phase      TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX phase_changes_by_session ON phase_changes(session_id, id);
