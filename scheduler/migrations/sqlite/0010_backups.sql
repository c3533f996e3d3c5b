-- Every backup attempt: when, where, how big, whether it worked (the "backups on time"
-- indicator is computed from these rows).
CREATE TABLE backups (
    id     TEXT PRIMARY KEY NOT NULL,
    at     TEXT NOT NULL,
    file   TEXT NOT NULL,
    bytes  INTEGER NOT NULL,
    ok     INTEGER NOT NULL CHECK (ok IN (0, 1)),
    error  TEXT
);
CREATE INDEX backups_by_time ON backups(at);
