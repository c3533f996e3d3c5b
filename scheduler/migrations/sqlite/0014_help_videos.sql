-- Training recordings published as help videos, and their views per day.
CREATE TABLE help_videos (
    id            TEXT PRIMARY KEY NOT NULL,
    recording_id  TEXT NOT NULL UNIQUE REFERENCES recordings(id),
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    tags          TEXT NOT NULL,
    category      TEXT NOT NULL,
    envoy         TEXT NOT NULL,
    published_by  TEXT NOT NULL,
    published_at  TEXT NOT NULL,
    views         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX help_videos_by_time ON help_videos(published_at);

CREATE TABLE help_video_views (
    video_id  TEXT NOT NULL REFERENCES help_videos(id),
    day       TEXT NOT NULL,
    views     INTEGER NOT NULL,
    PRIMARY KEY (video_id, day)
);
