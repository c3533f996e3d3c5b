-- PostgreSQL schema: the same model as the SQLite migrations, with native types and
-- with double booking made impossible by an exclusion constraint.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('administrator')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_username_unique UNIQUE (username)
);

CREATE TABLE organisations (
    id   UUID PRIMARY KEY,
    name TEXT NOT NULL,
    CONSTRAINT organisations_name_unique UNIQUE (name)
);

CREATE TABLE people (
    id              UUID PRIMARY KEY,
    name            TEXT NOT NULL,
    email           TEXT,
    organisation_id UUID REFERENCES organisations(id),
    time_zone       TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    fields          TEXT NOT NULL DEFAULT '',
    CONSTRAINT people_email_unique UNIQUE (email)
);

CREATE TABLE person_roles (
    person_id UUID NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('administrator', 'host', 'applicant', 'expert', 'trainer', 'trainee', 'observer')),
    PRIMARY KEY (person_id, role)
);

CREATE TABLE programmes (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL,
    min_panel_size INTEGER NOT NULL DEFAULT 3,
    max_panel_size INTEGER NOT NULL DEFAULT 9,
    CONSTRAINT programmes_name_unique UNIQUE (name),
    CONSTRAINT programmes_panel_size CHECK (min_panel_size >= 1 AND max_panel_size >= min_panel_size)
);

CREATE TABLE projects (
    id              UUID PRIMARY KEY,
    code            TEXT NOT NULL,
    title           TEXT NOT NULL,
    programme_id    UUID NOT NULL REFERENCES programmes(id),
    applicant_id    UUID NOT NULL REFERENCES people(id),
    organisation_id UUID NOT NULL REFERENCES organisations(id),
    field           TEXT NOT NULL DEFAULT '',
    CONSTRAINT projects_code_unique UNIQUE (code)
);

CREATE TABLE conflicts_of_interest (
    id              UUID PRIMARY KEY,
    expert_id       UUID NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    project_id      UUID REFERENCES projects(id) ON DELETE CASCADE,
    organisation_id UUID REFERENCES organisations(id) ON DELETE CASCADE,
    reason          TEXT NOT NULL DEFAULT '',
    CONSTRAINT conflicts_target CHECK (project_id IS NOT NULL OR organisation_id IS NOT NULL)
);
CREATE INDEX conflicts_by_expert ON conflicts_of_interest(expert_id);

CREATE TABLE panels (
    id       UUID PRIMARY KEY,
    name     TEXT NOT NULL,
    chair_id UUID REFERENCES people(id),
    CONSTRAINT panels_name_unique UNIQUE (name)
);

CREATE TABLE panel_members (
    panel_id  UUID NOT NULL REFERENCES panels(id) ON DELETE CASCADE,
    person_id UUID NOT NULL REFERENCES people(id),
    PRIMARY KEY (panel_id, person_id)
);

CREATE TABLE rooms (
    id   UUID PRIMARY KEY,
    name TEXT NOT NULL,
    CONSTRAINT rooms_name_unique UNIQUE (name)
);

CREATE TABLE sessions (
    id               UUID PRIMARY KEY,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('defense', 'training')),
    starts_at        TIMESTAMPTZ NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 720),
    time_zone        TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    project_id       UUID REFERENCES projects(id),
    room_id          UUID REFERENCES rooms(id),
    buffer_minutes   INTEGER NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 240),
    sequence         INTEGER NOT NULL DEFAULT 0,
    cancelled_at     TIMESTAMPTZ
);
CREATE INDEX sessions_by_start ON sessions(starts_at);

CREATE TABLE session_participants (
    id           UUID PRIMARY KEY,
    session_id   UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    email        TEXT,
    role         TEXT NOT NULL CHECK (role IN ('host', 'applicant', 'expert', 'observer', 'trainer', 'trainee')),
    position     INTEGER NOT NULL,
    person_id    UUID REFERENCES people(id)
);
CREATE INDEX session_participants_session ON session_participants(session_id, position);

CREATE TABLE resource_claims (
    session_id UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    during     TSTZRANGE NOT NULL,
    PRIMARY KEY (session_id, resource),
    CONSTRAINT resource_claims_no_overlap EXCLUDE USING gist (resource WITH =, during WITH &&)
);

CREATE FUNCTION participants_no_conflict_of_interest() RETURNS trigger AS $$
BEGIN
    IF NEW.role = 'expert' AND NEW.person_id IS NOT NULL AND EXISTS (
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
    ) THEN
        RAISE EXCEPTION 'conflict_of_interest' USING ERRCODE = '23514',
            CONSTRAINT = 'participants_no_conflict_of_interest';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER participants_no_conflict_of_interest
BEFORE INSERT OR UPDATE ON session_participants
FOR EACH ROW EXECUTE FUNCTION participants_no_conflict_of_interest();
