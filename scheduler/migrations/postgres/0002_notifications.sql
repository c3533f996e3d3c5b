CREATE TABLE notifications (
    id             UUID PRIMARY KEY,
    session_id     UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id UUID NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('invite', 'update', 'cancel')),
    sequence       INTEGER NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('email', 'log')),
    ics            TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_by_session ON notifications(session_id, created_at);
