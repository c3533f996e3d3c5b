-- Uplink frame rate and the SFU's repair requests (NACKs, PLIs) per interval.
ALTER TABLE stream_samples ADD COLUMN frames BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_samples ADD COLUMN nacks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_samples ADD COLUMN plis BIGINT NOT NULL DEFAULT 0;
