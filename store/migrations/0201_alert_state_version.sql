-- Bumped on every write of a transit's rule memory: a worker that wrote the memory last keeps it
-- in memory and reads the JSON back only when another writer moved the version on.
ALTER TABLE alert_transit_state ADD COLUMN version bigint NOT NULL DEFAULT 0;
