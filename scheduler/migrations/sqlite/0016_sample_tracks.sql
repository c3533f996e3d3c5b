-- Samples per track, not only per direction: `microphone`, `camera`, `screen` for
-- what a participant sends; `publisher/source` for what they receive. Rows stored
-- before this pool a direction's tracks and keep an empty track.
ALTER TABLE stream_samples ADD COLUMN track TEXT NOT NULL DEFAULT '';
