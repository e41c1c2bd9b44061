-- Aggregates per hour/day, route and carrier, TimescaleDB variant.
--
-- history_seal_hourly is a continuous aggregate over the fixes hypertable (one row per seal and
-- hour, refreshed by its policy; real-time, so the newest hour is read from raw fixes). Path
-- length uses history_track_m from 0301 because continuous aggregates cannot use window
-- functions. The route/carrier aggregates join transits and declarations, which a continuous
-- aggregate cannot, so they are ordinary materialized views on top, refreshed CONCURRENTLY by
-- store.aggregates.refresh exactly as in the native variant. Column names and types match the
-- native table, so every query is the same in both modes.
--
-- Not executed in this repository's CI (TimescaleDB is not installed there).

CREATE MATERIALIZED VIEW history_seal_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT seal_id,
       time_bucket(INTERVAL '1 hour', t) AS bucket,
       count(*) AS fixes,
       min(t) AS first_t,
       max(t) AS last_t,
       first(lat, t) AS first_lat,
       first(lon, t) AS first_lon,
       last(lat, t) AS last_lat,
       last(lon, t) AS last_lon,
       history_track_m(t, lat, lon) AS distance_m,
       max(speed_kmh) AS max_speed_kmh
FROM fixes
GROUP BY seal_id, time_bucket(INTERVAL '1 hour', t)
WITH NO DATA;

-- Late fixes (store-and-forward seals) up to 7 days old are folded in; the open hour is real-time.
SELECT add_continuous_aggregate_policy('history_seal_hourly',
    start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');

-- Kept for interface parity with the native variant (refresh() records when it last ran).
CREATE TABLE history_refresh_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fixes_watermark  timestamptz,
    refreshed_at     timestamptz
);
INSERT INTO history_refresh_state DEFAULT VALUES;

-- One row per (transit, seal, hour) the seal was tracked on the transit. distance_m adds the
-- segment from the seal's previous hour on the same transit, so hour sums give the whole path
-- and a seal's move between two transits never counts.
CREATE VIEW history_transit_hours AS
SELECT t.transit_id, coalesce(t.route_code, '') AS route_code, d.carrier_tin, h.seal_id, h.bucket, h.fixes,
       h.distance_m + coalesce(history_haversine_m(
           lag(h.last_lat) OVER w, lag(h.last_lon) OVER w, h.first_lat, h.first_lon), 0) AS distance_m
FROM history_seal_hourly h
JOIN transit_seals ts ON ts.seal_id = h.seal_id
JOIN transits t ON t.transit_id = ts.transit_id
JOIN declarations d ON d.id = t.declaration_id
WHERE h.last_t >= t.released_at AND h.first_t <= coalesce(ts.returned_at, t.closed_at, 'infinity')
WINDOW w AS (PARTITION BY t.transit_id, h.seal_id ORDER BY h.bucket);

-- Route and carrier of every transit ('' = ad-hoc itinerary, so it can be a key).
CREATE VIEW history_transit_keys AS
SELECT t.transit_id, coalesce(t.route_code, '') AS route_code, d.carrier_tin, d.carrier_name,
       t.released_at, t.arrived_at
FROM transits t JOIN declarations d ON d.id = t.declaration_id;

-- Per hour (UTC), route and carrier: fixes, distance, stops, releases, arrivals and transit
-- durations of the transits that arrived in the bucket. Alerts are counted at query time (their
-- table may not exist). Refreshed CONCURRENTLY by store.aggregates.refresh, hence the unique index.
CREATE MATERIALIZED VIEW history_route_hourly AS
WITH moving AS (
    SELECT date_trunc('hour', bucket, 'UTC') AS bucket, route_code, carrier_tin,
           sum(fixes)::bigint AS fixes, sum(distance_m) AS distance_m, count(DISTINCT transit_id) AS transits_tracked
    FROM history_transit_hours GROUP BY 1, 2, 3
), stops AS (
    SELECT date_trunc('hour', o.t, 'UTC') AS bucket, k.route_code, k.carrier_tin, count(*) AS stops
    FROM observations o JOIN history_transit_keys k ON k.transit_id = o.transit_id
    WHERE o.kind = 'stop_start' GROUP BY 1, 2, 3
), released AS (
    SELECT date_trunc('hour', released_at, 'UTC') AS bucket, route_code, carrier_tin, count(*) AS released
    FROM history_transit_keys GROUP BY 1, 2, 3
), arrived AS (
    SELECT date_trunc('hour', arrived_at, 'UTC') AS bucket, route_code, carrier_tin, count(*) AS arrived,
           sum(extract(epoch FROM arrived_at - released_at))::float8 AS duration_s_sum,
           max(extract(epoch FROM arrived_at - released_at))::float8 AS duration_s_max
    FROM history_transit_keys WHERE arrived_at IS NOT NULL GROUP BY 1, 2, 3
), keys AS (
    SELECT bucket, route_code, carrier_tin FROM moving
    UNION SELECT bucket, route_code, carrier_tin FROM stops
    UNION SELECT bucket, route_code, carrier_tin FROM released
    UNION SELECT bucket, route_code, carrier_tin FROM arrived
), carriers AS (
    SELECT carrier_tin, max(carrier_name) AS carrier_name FROM declarations GROUP BY carrier_tin
)
SELECT k.bucket, k.route_code, k.carrier_tin, c.carrier_name,
       coalesce(m.fixes, 0) AS fixes, coalesce(m.distance_m, 0) / 1000 AS distance_km,
       coalesce(m.transits_tracked, 0) AS transits_tracked, coalesce(s.stops, 0) AS stops,
       coalesce(r.released, 0) AS released, coalesce(a.arrived, 0) AS arrived,
       coalesce(a.duration_s_sum, 0) AS duration_s_sum, a.duration_s_max
FROM keys k
LEFT JOIN moving m USING (bucket, route_code, carrier_tin)
LEFT JOIN stops s USING (bucket, route_code, carrier_tin)
LEFT JOIN released r USING (bucket, route_code, carrier_tin)
LEFT JOIN arrived a USING (bucket, route_code, carrier_tin)
LEFT JOIN carriers c USING (carrier_tin);
CREATE UNIQUE INDEX history_route_hourly_key ON history_route_hourly (bucket, route_code, carrier_tin);
CREATE INDEX history_route_hourly_route ON history_route_hourly (route_code, bucket);
CREATE INDEX history_route_hourly_carrier ON history_route_hourly (carrier_tin, bucket);

-- Per day (UTC), route and carrier: fixes, distance, stops, releases, arrivals and transit
-- durations of the transits that arrived in the bucket. Alerts are counted at query time (their
-- table may not exist). Refreshed CONCURRENTLY by store.aggregates.refresh, hence the unique index.
CREATE MATERIALIZED VIEW history_route_daily AS
WITH moving AS (
    SELECT date_trunc('day', bucket, 'UTC') AS bucket, route_code, carrier_tin,
           sum(fixes)::bigint AS fixes, sum(distance_m) AS distance_m, count(DISTINCT transit_id) AS transits_tracked
    FROM history_transit_hours GROUP BY 1, 2, 3
), stops AS (
    SELECT date_trunc('day', o.t, 'UTC') AS bucket, k.route_code, k.carrier_tin, count(*) AS stops
    FROM observations o JOIN history_transit_keys k ON k.transit_id = o.transit_id
    WHERE o.kind = 'stop_start' GROUP BY 1, 2, 3
), released AS (
    SELECT date_trunc('day', released_at, 'UTC') AS bucket, route_code, carrier_tin, count(*) AS released
    FROM history_transit_keys GROUP BY 1, 2, 3
), arrived AS (
    SELECT date_trunc('day', arrived_at, 'UTC') AS bucket, route_code, carrier_tin, count(*) AS arrived,
           sum(extract(epoch FROM arrived_at - released_at))::float8 AS duration_s_sum,
           max(extract(epoch FROM arrived_at - released_at))::float8 AS duration_s_max
    FROM history_transit_keys WHERE arrived_at IS NOT NULL GROUP BY 1, 2, 3
), keys AS (
    SELECT bucket, route_code, carrier_tin FROM moving
    UNION SELECT bucket, route_code, carrier_tin FROM stops
    UNION SELECT bucket, route_code, carrier_tin FROM released
    UNION SELECT bucket, route_code, carrier_tin FROM arrived
), carriers AS (
    SELECT carrier_tin, max(carrier_name) AS carrier_name FROM declarations GROUP BY carrier_tin
)
SELECT k.bucket, k.route_code, k.carrier_tin, c.carrier_name,
       coalesce(m.fixes, 0) AS fixes, coalesce(m.distance_m, 0) / 1000 AS distance_km,
       coalesce(m.transits_tracked, 0) AS transits_tracked, coalesce(s.stops, 0) AS stops,
       coalesce(r.released, 0) AS released, coalesce(a.arrived, 0) AS arrived,
       coalesce(a.duration_s_sum, 0) AS duration_s_sum, a.duration_s_max
FROM keys k
LEFT JOIN moving m USING (bucket, route_code, carrier_tin)
LEFT JOIN stops s USING (bucket, route_code, carrier_tin)
LEFT JOIN released r USING (bucket, route_code, carrier_tin)
LEFT JOIN arrived a USING (bucket, route_code, carrier_tin)
LEFT JOIN carriers c USING (carrier_tin);
CREATE UNIQUE INDEX history_route_daily_key ON history_route_daily (bucket, route_code, carrier_tin);
CREATE INDEX history_route_daily_route ON history_route_daily (route_code, bucket);
CREATE INDEX history_route_daily_carrier ON history_route_daily (carrier_tin, bucket);
