-- Every invitation, update and cancellation sent (or, without SMTP, logged) to a
-- participant, with the calendar object that went with it.
CREATE TABLE notifications (
    id             TEXT PRIMARY KEY NOT NULL,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('invite', 'update', 'cancel')),
    sequence       INTEGER NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('email', 'log')),
    ics            TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX notifications_by_session ON notifications(session_id, created_at);
