-- The operations console's delta feed and alerts panel.
--
-- The feed answers "which units changed since the client's cursor": a new fix (seal_latest's
-- updated_at, stamped by every upsert), a unit that joined or left the monitored set (a transit's
-- status change, stamped here by a trigger with the wall clock: arrived_at carries the fix time,
-- which may lie before the cursor), and time-driven states (a fix time or deadline crossing its
-- threshold). These indexes make each of those a range scan.
ALTER TABLE transits ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION transits_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER transits_stamp_change BEFORE UPDATE OF status, monitored ON transits
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.monitored IS DISTINCT FROM NEW.monitored)
    EXECUTE FUNCTION transits_stamp_change();

CREATE INDEX transits_changed ON transits (changed_at);
-- What the feed needs of an active monitored transit, without reading its wide rows (route line, corridor).
CREATE INDEX transits_units ON transits (transit_id) INCLUDE (declaration_id, route_code, deadline, released_at)
    WHERE status = 'active' AND monitored;
CREATE INDEX transits_active_deadline ON transits (deadline) WHERE status = 'active';
CREATE INDEX seal_latest_updated ON seal_latest (updated_at);
CREATE INDEX seal_latest_t ON seal_latest (t);
CREATE INDEX transit_seals_assigned ON transit_seals (assigned_at) WHERE returned_at IS NULL;
CREATE INDEX transit_seals_returned ON transit_seals (returned_at) WHERE returned_at IS NOT NULL;

-- The alerts panel: unresolved alerts, most severe first, then newest, paged by keyset.
CREATE INDEX alerts_panel ON alerts (
    (CASE severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END) DESC, raised_at DESC, id DESC
) WHERE status <> 'resolved';
