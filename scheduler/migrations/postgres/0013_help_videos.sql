-- Training recordings published as help videos, and their views per day.
CREATE TABLE help_videos (
    id            UUID PRIMARY KEY,
    recording_id  UUID NOT NULL UNIQUE REFERENCES recordings(id),
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    tags          TEXT NOT NULL,
    category      TEXT NOT NULL,
    envoy         TEXT NOT NULL,
    published_by  TEXT NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL,
    views         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX help_videos_by_time ON help_videos(published_at);

CREATE TABLE help_video_views (
    video_id  UUID NOT NULL REFERENCES help_videos(id),
    day       DATE NOT NULL,
    views     BIGINT NOT NULL,
    PRIMARY KEY (video_id, day)
);
