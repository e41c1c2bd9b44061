-- Latest known state of every seal, and the dead-letter store for rejected input.

CREATE TABLE seal_latest (
    seal_id      text PRIMARY KEY,
    seq          bigint NOT NULL,
    t            timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    speed_kmh    real,
    heading_deg  real,
    sats         smallint,
    hdop         real,
    battery_pct  real NOT NULL,
    seal_state   text NOT NULL CHECK (seal_state IN ('closed', 'opened', 'tampered')),
    received_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Nothing rejected is lost: the raw bytes are kept with a stable reason code and a readable detail.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    topic        text,
    payload      bytea NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at DESC);
