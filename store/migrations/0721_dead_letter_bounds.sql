-- Dead letters are bounded: by age, per source (a seal's topic) and in total bytes, with payloads
-- truncated above a cap (their size and sha256 kept). What the bounds dropped is counted here.
ALTER TABLE dead_letters
    ADD COLUMN source_key     text,       -- the topic's first two levels: seals/<seal id>
    ADD COLUMN payload_size   integer,    -- the received payload's length (payload may hold less)
    ADD COLUMN payload_sha256 bytea;      -- of the whole received payload
CREATE INDEX dead_letters_source_key ON dead_letters (source_key, id);

CREATE TABLE dead_letter_drops (
    cause     text PRIMARY KEY CHECK (cause IN ('age', 'per_source', 'total_bytes')),
    messages  bigint NOT NULL DEFAULT 0,
    bytes     bigint NOT NULL DEFAULT 0,  -- stored bytes dropped (payloads as stored, truncated)
    last_at   timestamptz
);
