-- Uplink frame rate and the SFU's repair requests (NACKs, PLIs) per interval.
ALTER TABLE stream_samples ADD COLUMN frames INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stream_samples ADD COLUMN nacks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stream_samples ADD COLUMN plis INTEGER NOT NULL DEFAULT 0;
