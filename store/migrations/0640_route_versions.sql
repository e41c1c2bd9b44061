-- Routes on real road geometry: every geometry a route has had is a numbered version (seeded town
-- line, imported GeoJSON/GPX/KML, edited on the map, learned from past tracks); the route row holds
-- the current one. A corridor's width varies along the route: width_profile is a list of
-- {"from_m", "to_m", "width_m"} stretches measured along the line in the metric CRS (EPSG:32638),
-- default_width_m everywhere else. stop_tolerance_s: how long a stop outside the stop areas is
-- tolerated on this route (NULL: the alert settings' default).

ALTER TABLE routes
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN default_width_m double precision NOT NULL DEFAULT 2000 CHECK (default_width_m > 0),
    ADD COLUMN width_profile jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(width_profile) = 'array'),
    ADD COLUMN stop_tolerance_s double precision CHECK (stop_tolerance_s > 0),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE route_versions (
    route_code       text NOT NULL REFERENCES routes (code),
    version          integer NOT NULL CHECK (version >= 1),
    polyline         jsonb NOT NULL CHECK (polyline->>'type' = 'LineString'),
    default_width_m  double precision NOT NULL CHECK (default_width_m > 0),
    width_profile    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(width_profile) = 'array'),
    source           text NOT NULL CHECK (source IN ('seed', 'geojson', 'gpx', 'kml', 'edit', 'learned')),
    note             text NOT NULL DEFAULT '',
    stats            jsonb NOT NULL DEFAULT '{}',
    created_by       text NOT NULL DEFAULT 'system',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (route_code, version)
);

-- A transit keeps the geometry it was released with: which version, and a width per segment of its
-- route_line (NULL: corridor_width_m all along).
ALTER TABLE transits
    ADD COLUMN route_version integer,
    ADD COLUMN segment_widths jsonb CHECK (segment_widths IS NULL OR jsonb_typeof(segment_widths) = 'array');

CREATE OR REPLACE VIEW active_transits AS
SELECT t.transit_id, ts.seal_id, t.route_line, t.corridor_width_m, t.office_destination, t.deadline, t.released_at,
       t.segment_widths
FROM transits t
JOIN transit_seals ts ON ts.transit_id = t.transit_id AND ts.returned_at IS NULL
WHERE t.status = 'active';
