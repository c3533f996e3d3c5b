-- Who has been counted as viewing a video on a day (an opaque id the player keeps),
-- so that reloading, replaying or a player restart is one view, not many. Only the
-- current and previous day are kept.
CREATE TABLE help_video_viewers (
    video_id  TEXT NOT NULL REFERENCES help_videos(id),
    day       TEXT NOT NULL,
    viewer    TEXT NOT NULL,
    PRIMARY KEY (video_id, day, viewer)
);
