-- Fixes as a TimescaleDB hypertable with daily chunks. Compression and retention policies
-- are (re)applied from settings by store.partitions at service start.
CREATE EXTENSION IF NOT EXISTS timescaledb;

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
);

SELECT create_hypertable('fixes', by_range('t', INTERVAL '1 day'));

ALTER TABLE fixes SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'seal_id',
    timescaledb.compress_orderby = 't DESC, seq DESC'
);
SELECT add_compression_policy('fixes', INTERVAL '7 days');
SELECT add_retention_policy('fixes', INTERVAL '90 days');
