-- Stream measurements per session and participant (2-second intervals), connection
-- events, and the browsers' own reports: the raw material of stability verdicts.
CREATE TABLE stream_samples (
    id             BIGSERIAL PRIMARY KEY,
    session_id     UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id UUID NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    seconds        DOUBLE PRECISION NOT NULL,
    direction      TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    packets        BIGINT NOT NULL,
    lost           BIGINT NOT NULL,
    kbps           DOUBLE PRECISION NOT NULL,
    jitter_ms      DOUBLE PRECISION NOT NULL,
    rtt_ms         DOUBLE PRECISION,
    keyframes      BIGINT NOT NULL,
    freezes        BIGINT NOT NULL
);
CREATE INDEX stream_samples_by_session ON stream_samples(session_id, at);

CREATE TABLE connection_events (
    id             BIGSERIAL PRIMARY KEY,
    session_id     UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    participant_id UUID NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    event          TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX connection_events_by_session ON connection_events(session_id, at);
