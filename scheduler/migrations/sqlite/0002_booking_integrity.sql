-- The booking world: organisations, people, programmes, projects, declared conflicts of
-- interest, panels and virtual rooms. Booking integrity (no double booking, no conflict
-- of interest) is enforced here, by the database, whatever the application does.

CREATE TABLE organisations (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    CONSTRAINT organisations_name_unique UNIQUE (name)
);

CREATE TABLE people (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT,
    organisation_id TEXT REFERENCES organisations(id),
    time_zone       TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    -- Expertise fields, separated by '|' (experts only).
    fields          TEXT NOT NULL DEFAULT '',
    CONSTRAINT people_email_unique UNIQUE (email)
);

CREATE TABLE person_roles (
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('administrator', 'host', 'applicant', 'expert', 'trainer', 'trainee', 'observer')),
    PRIMARY KEY (person_id, role)
);

CREATE TABLE programmes (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    min_panel_size INTEGER NOT NULL DEFAULT 3,
    max_panel_size INTEGER NOT NULL DEFAULT 9,
    CONSTRAINT programmes_name_unique UNIQUE (name),
    CONSTRAINT programmes_panel_size CHECK (min_panel_size >= 1 AND max_panel_size >= min_panel_size)
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY NOT NULL,
    code            TEXT NOT NULL,
    title           TEXT NOT NULL,
    programme_id    TEXT NOT NULL REFERENCES programmes(id),
    applicant_id    TEXT NOT NULL REFERENCES people(id),
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    field           TEXT NOT NULL DEFAULT '',
    CONSTRAINT projects_code_unique UNIQUE (code)
);

-- A declared conflict: the expert may not judge this project, or any project of this
-- organisation. (Same-organisation conflicts need no declaration.)
CREATE TABLE conflicts_of_interest (
    id              TEXT PRIMARY KEY NOT NULL,
    expert_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    project_id      TEXT REFERENCES projects(id) ON DELETE CASCADE,
    organisation_id TEXT REFERENCES organisations(id) ON DELETE CASCADE,
    reason          TEXT NOT NULL DEFAULT '',
    CONSTRAINT conflicts_target CHECK (project_id IS NOT NULL OR organisation_id IS NOT NULL)
);
CREATE INDEX conflicts_by_expert ON conflicts_of_interest(expert_id);

CREATE TABLE panels (
    id       TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    chair_id TEXT REFERENCES people(id),
    CONSTRAINT panels_name_unique UNIQUE (name)
);

CREATE TABLE panel_members (
    panel_id  TEXT NOT NULL REFERENCES panels(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id),
    PRIMARY KEY (panel_id, person_id)
);

CREATE TABLE rooms (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    CONSTRAINT rooms_name_unique UNIQUE (name)
);

ALTER TABLE sessions ADD COLUMN project_id TEXT REFERENCES projects(id);
ALTER TABLE sessions ADD COLUMN room_id TEXT REFERENCES rooms(id);
ALTER TABLE sessions ADD COLUMN buffer_minutes INTEGER NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 240);
ALTER TABLE sessions ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN cancelled_at TEXT;

ALTER TABLE session_participants ADD COLUMN person_id TEXT REFERENCES people(id);

-- What a booked session holds exclusively: each expert, applicant and trainer taking
-- part, and its room, from the start to the end plus the buffer (unix seconds,
-- half-open). Two claims on one resource may not overlap.
CREATE TABLE resource_claims (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    PRIMARY KEY (session_id, resource),
    CONSTRAINT resource_claims_interval CHECK (ends_at > starts_at)
);
CREATE INDEX resource_claims_by_resource ON resource_claims(resource, starts_at);

CREATE TRIGGER resource_claims_no_overlap
BEFORE INSERT ON resource_claims
WHEN EXISTS (
    SELECT 1 FROM resource_claims c
    WHERE c.resource = NEW.resource
      AND c.session_id <> NEW.session_id
      AND c.starts_at < NEW.ends_at
      AND NEW.starts_at < c.ends_at
)
BEGIN
    SELECT RAISE(ABORT, 'double_booking');
END;

CREATE TRIGGER resource_claims_no_overlap_on_update
BEFORE UPDATE ON resource_claims
WHEN EXISTS (
    SELECT 1 FROM resource_claims c
    WHERE c.resource = NEW.resource
      AND c.session_id <> NEW.session_id
      AND c.starts_at < NEW.ends_at
      AND NEW.starts_at < c.ends_at
)
BEGIN
    SELECT RAISE(ABORT, 'double_booking');
END;

-- An expert may not sit on a defense of their own organisation's project, nor of a
-- project (or organisation) they declared a conflict with.
CREATE TRIGGER participants_no_conflict_of_interest
BEFORE INSERT ON session_participants
WHEN NEW.role = 'expert' AND NEW.person_id IS NOT NULL AND EXISTS (
    SELECT 1
    FROM sessions s
    JOIN projects p ON p.id = s.project_id
    JOIN people e ON e.id = NEW.person_id
    WHERE s.id = NEW.session_id
      AND (
        e.organisation_id = p.organisation_id
        OR EXISTS (
            SELECT 1 FROM conflicts_of_interest c
            WHERE c.expert_id = NEW.person_id
              AND (c.project_id = p.id OR c.organisation_id = p.organisation_id)
        )
      )
)
BEGIN
    SELECT RAISE(ABORT, 'conflict_of_interest');
END;
