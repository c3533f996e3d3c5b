-- Recordings whose media were deleted under the retention policy (the rows stay, so
-- what was recorded and when remains on record).
CREATE TABLE recording_expiries (
    recording_id  UUID PRIMARY KEY REFERENCES recordings(id),
    expired_at    TIMESTAMPTZ NOT NULL
);
