-- History queries: keyset indexes for the transit list, and distance helpers shared by the
-- aggregates of both storage modes.

-- The transit list is sorted (released_at DESC, transit_id DESC) and paged by keyset.
CREATE INDEX transits_history ON transits (released_at DESC, transit_id DESC);
CREATE INDEX transits_route_history ON transits (route_code, released_at DESC, transit_id DESC);
CREATE INDEX transit_seals_seal ON transit_seals (seal_id);
CREATE INDEX observations_kind_t ON observations (kind, t);

-- Great-circle distance in metres (mean Earth radius); least() guards asin against rounding above 1.
CREATE FUNCTION history_haversine_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT 2 * 6371008.8 * asin(least(1.0, sqrt(
        power(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))))
$$;

-- history_track_m(t, lat, lon): length of the path through the points in time order. An
-- ordinary (not ordered-set) aggregate whose input order does not matter, with a combine
-- function, so it is usable in a TimescaleDB continuous aggregate and in parallel plans.
-- The state is a flat float8[] of (epoch seconds, lat, lon) triples: fine for the ~100s of
-- fixes of one seal-hour, not meant for whole tracks.
CREATE FUNCTION history_track_push(s float8[], t timestamptz, lat float8, lon float8)
RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s || ARRAY[extract(epoch FROM t)::float8, lat, lon]
$$;

CREATE FUNCTION history_track_final(s float8[]) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(history_haversine_m(plat, plon, lat, lon)), 0)
    FROM (
        SELECT lat, lon, lag(lat) OVER (ORDER BY t, n) AS plat, lag(lon) OVER (ORDER BY t, n) AS plon
        FROM (
            SELECT s[3 * n - 2] AS t, s[3 * n - 1] AS lat, s[3 * n] AS lon, n
            FROM generate_series(1, coalesce(array_length(s, 1), 0) / 3) AS n
        ) AS p
    ) AS q
$$;

CREATE AGGREGATE history_track_m(timestamptz, float8, float8) (
    SFUNC = history_track_push,
    STYPE = float8[],
    INITCOND = '{}',
    COMBINEFUNC = array_cat,
    FINALFUNC = history_track_final,
    PARALLEL = SAFE
);
