-- Accounts that sign in with a password (administrators for now).
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('administrator')),
    created_at    TEXT NOT NULL,
    CONSTRAINT users_username_unique UNIQUE (username)
);

-- A booked defense or training session. Times are UTC (RFC 3339); the time zone is
-- the IANA name the session was booked in, used for invitations and display.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('defense', 'training')),
    starts_at        TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 720),
    time_zone        TEXT NOT NULL,
    created_at       TEXT NOT NULL
);

-- Who is invited to a session, in which role.
CREATE TABLE session_participants (
    id           TEXT PRIMARY KEY NOT NULL,
    session_id   TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    email        TEXT,
    role         TEXT NOT NULL CHECK (role IN ('host', 'applicant', 'expert', 'observer', 'trainer', 'trainee')),
    position     INTEGER NOT NULL
);
CREATE INDEX session_participants_session ON session_participants(session_id, position);
