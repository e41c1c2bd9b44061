-- Fixes, natively range-partitioned by day. Partitions are created ahead and dropped by
-- retention by store.partitions; the primary key makes storage idempotent for redeliveries
-- and serves a seal's track between two times.
CREATE TABLE fixes (
    seal_id      text NOT NULL,
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
    PRIMARY KEY (seal_id, t, seq)
) PARTITION BY RANGE (t);

-- BRIN: nearly free to maintain on time-ordered appends, enough for time-range scans across seals.
CREATE INDEX fixes_t ON fixes USING brin (t);
