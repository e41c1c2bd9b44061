-- What the geofence engine saw, per fix: corridor exits, zone crossings, stops, jumps, arrival.
-- Kept for alerts, the Time Release Study and auditors; idempotent on (seal, kind, fix time,
-- zone) so a batch processed twice (after a restart) records each observation once.
CREATE TABLE observations (
    id           bigserial PRIMARY KEY,
    seal_id      text NOT NULL,
    transit_id   text,
    kind         text NOT NULL,
    t            timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    zone_code    text NOT NULL DEFAULT '',
    evidence     jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (seal_id, kind, t, zone_code)
);
CREATE INDEX observations_transit ON observations (transit_id, t);
CREATE INDEX observations_t ON observations (t);
