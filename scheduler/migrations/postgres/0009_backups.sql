-- Every backup attempt: when, where, how big, whether it worked (the "backups on time"
-- indicator is computed from these rows).
CREATE TABLE backups (
    id     UUID PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    file   TEXT NOT NULL,
    bytes  BIGINT NOT NULL,
    ok     BOOLEAN NOT NULL,
    error  TEXT
);
CREATE INDEX backups_by_time ON backups(at);
