-- Alerts (issue 5): one row per alert, its lifecycle history, per-transit rule memory, mobile
-- customs groups, the MQTT dispatch outbox and the ordered change stream the UI follows.

CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    type             text NOT NULL CHECK (type IN ('route_deviation', 'unauthorized_stop', 'seal_opened',
                       'seal_tampered', 'restricted_zone', 'low_battery', 'signal_lost', 'overdue', 'gps_jump',
                       'arrival')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'dispatched', 'resolved')),
    transit_id       text NOT NULL REFERENCES transits (transit_id),
    seal_id          text NOT NULL,
    lat              double precision,
    lon              double precision,
    first_t          timestamptz NOT NULL,          -- time of the fix/observation that raised it
    last_t           timestamptz NOT NULL,          -- time of the latest repetition
    count            integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    evidence         jsonb NOT NULL DEFAULT '{}',
    raised_at        timestamptz NOT NULL,          -- wall clock: escalation counts from here
    updated_at       timestamptz NOT NULL,
    escalated_at     timestamptz,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    dispatched_at    timestamptz,
    dispatched_by    text,
    group_id         text,
    resolved_at      timestamptz,
    resolved_by      text,
    outcome          text CHECK (outcome IN ('false_alarm', 'violation_confirmed', 'technical_fault', 'other',
                       'auto_cleared')),
    comment          text NOT NULL DEFAULT '',
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL AND outcome IS NOT NULL))
);
-- Dedup: at most one unresolved alert per transit and type; the index, not timing, decides races.
CREATE UNIQUE INDEX alerts_one_open ON alerts (transit_id, type) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts (status, type);
CREATE INDEX alerts_transit ON alerts (transit_id, type, id DESC);
CREATE INDEX alerts_seal ON alerts (seal_id);
-- Escalation scan: critical alerts nobody acknowledged yet.
CREATE INDEX alerts_unacknowledged ON alerts (raised_at)
    WHERE severity = 'critical' AND acknowledged_at IS NULL AND escalated_at IS NULL AND status <> 'resolved';

-- Who did what when, per alert: raised, updated, acknowledged, dispatched, resolved, escalated, ...
CREATE TABLE alert_events (
    id           bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

-- Rule memory per transit (last fix time for late-fix filtering, seal state, battery level,
-- pending stop, arrival), kept in the database so a restart neither re-raises nor forgets.
CREATE TABLE alert_transit_state (
    transit_id  text PRIMARY KEY REFERENCES transits (transit_id),
    last_fix_t  timestamptz,
    memory      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mobile_groups (
    group_id    text PRIMARY KEY,
    name        text NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    available   boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL
);

-- Transactional outbox: written with the dispatch, published QoS 1, marked sent after PUBACK.
CREATE TABLE alert_outbox (
    id          bigserial PRIMARY KEY,
    alert_id    bigint REFERENCES alerts (id) ON DELETE CASCADE,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX alert_outbox_pending ON alert_outbox (id) WHERE sent_at IS NULL;

-- Every alert change in commit order (writers serialize on an advisory lock before inserting),
-- announced with pg_notify('sealwatch_alerts', id); the SSE endpoint replays from here.
CREATE TABLE alert_stream (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    change    text NOT NULL,
    payload   jsonb NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
