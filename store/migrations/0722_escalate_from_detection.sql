-- Escalation counts from when an alert was found (``detected_at``), not from when its event
-- happened: an alert found late in a backlog gets the same time to be acknowledged as any other.
DROP INDEX IF EXISTS alerts_unacknowledged;
CREATE INDEX alerts_unacknowledged ON alerts (detected_at)
    WHERE severity = 'critical' AND acknowledged_at IS NULL AND escalated_at IS NULL AND status <> 'resolved';
