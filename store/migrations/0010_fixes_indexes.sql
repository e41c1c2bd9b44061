-- The indexes of fixes, the same in both modes: the primary key (seal_id, t, seq) serves a
-- seal's track and the idempotent insert, a BRIN on t serves time-range scans across seals
-- (exports, the aggregate rollups) at almost no write or space cost, and (seal_id, seq) from
-- 0400 serves ingest's replay check. TimescaleDB's create_hypertable adds a btree on t by
-- default (fixes_t_idx): large, maintained on every insert, for scans that chunk exclusion and
-- the BRIN already cover.
DROP INDEX IF EXISTS fixes_t_idx;
CREATE INDEX IF NOT EXISTS fixes_t ON fixes USING brin (t);
