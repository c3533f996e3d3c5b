-- What a held session leaves behind: score sheets on the programme's criteria,
-- satisfaction ratings, chat, and the append-only, hash-chained audit log.
ALTER TABLE programmes ADD COLUMN criteria TEXT; -- JSON array of {name, weight, max}

CREATE TABLE score_sheets (
    session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    expert_id     TEXT NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    scores        TEXT NOT NULL, -- JSON array of integers
    comment       TEXT NOT NULL,
    submitted_at  TEXT NOT NULL,
    locked        INTEGER NOT NULL CHECK (locked IN (0, 1)),
    reopen_reason TEXT,
    PRIMARY KEY (session_id, expert_id)
);

CREATE TABLE ratings (
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    role           TEXT NOT NULL,
    stars          INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment        TEXT NOT NULL,
    at             TEXT NOT NULL,
    PRIMARY KEY (session_id, participant_id)
);

CREATE TABLE chat_messages (
    id          TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          TEXT NOT NULL,
    removed_at  TEXT
);
CREATE INDEX chat_by_session ON chat_messages(session_id, at);

-- No foreign keys: the log outlives whatever it mentions.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    session_id TEXT,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_session ON audit_log(session_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
