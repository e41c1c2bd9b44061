-- Alerts found late: a backlog (fixes buffered out of coverage, sent after a later live fix) is
-- judged in its own time order and what it reveals is raised stamped with when it happened
-- (first_t and raised_at = event time), marked ``late``, with ``detected_at`` = when it was found.
ALTER TABLE alerts ADD COLUMN late boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN detected_at timestamptz;
UPDATE alerts SET detected_at = raised_at;
ALTER TABLE alerts ALTER COLUMN detected_at SET NOT NULL;
ALTER TABLE alerts ALTER COLUMN detected_at SET DEFAULT now();
CREATE INDEX alerts_late ON alerts (detected_at) WHERE late;
