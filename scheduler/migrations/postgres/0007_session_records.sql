-- What a held session leaves behind: score sheets on the programme's criteria,
-- satisfaction ratings, chat, and the append-only, hash-chained audit log.
ALTER TABLE programmes ADD COLUMN criteria JSONB;

CREATE TABLE score_sheets (
    session_id    UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    expert_id     UUID NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    scores        JSONB NOT NULL,
    comment       TEXT NOT NULL,
    submitted_at  TIMESTAMPTZ NOT NULL,
    locked        BOOLEAN NOT NULL,
    reopen_reason TEXT,
    PRIMARY KEY (session_id, expert_id)
);

CREATE TABLE ratings (
    session_id     UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id UUID NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    role           TEXT NOT NULL,
    stars          SMALLINT NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment        TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, participant_id)
);

CREATE TABLE chat_messages (
    id          UUID PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    author_id   UUID NOT NULL,
    author_name TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    removed_at  TIMESTAMPTZ
);
CREATE INDEX chat_by_session ON chat_messages(session_id, at);

-- No foreign keys: the log outlives whatever it mentions.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    session_id UUID,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_session ON audit_log(session_id, seq);
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
