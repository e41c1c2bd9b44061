-- Customs reference data: places, zones (read by the geofence engine), routes, agencies,
-- permit types and the single-window rules "HS prefix needs permit type".

CREATE TABLE places (
    code  text PRIMARY KEY,
    name  text NOT NULL,
    kind  text NOT NULL CHECK (kind IN ('town', 'customs_office', 'border_checkpoint')),
    lat   double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon   double precision NOT NULL CHECK (lon BETWEEN -180 AND 180)
);

-- geometry is a GeoJSON Polygon in lon/lat; circles are built in the metric CRS (EPSG:32638).
CREATE TABLE zones (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('customs_office', 'border_checkpoint', 'authorized_stop', 'restricted_area')),
    geometry    jsonb NOT NULL CHECK (geometry->>'type' = 'Polygon'),
    center_lat  double precision NOT NULL CHECK (center_lat BETWEEN -90 AND 90),
    center_lon  double precision NOT NULL CHECK (center_lon BETWEEN -180 AND 180),
    radius_m    double precision CHECK (radius_m > 0),
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX zones_kind ON zones (kind) WHERE active;

-- polyline is a GeoJSON LineString in lon/lat through the places in order.
CREATE TABLE routes (
    code          text PRIMARY KEY,
    name          text NOT NULL,
    place_codes   text[] NOT NULL CHECK (cardinality(place_codes) >= 2),
    polyline      jsonb NOT NULL CHECK (polyline->>'type' = 'LineString'),
    time_limit_h  double precision NOT NULL CHECK (time_limit_h > 0),
    active        boolean NOT NULL DEFAULT true
);

CREATE TABLE agencies (
    code  text PRIMARY KEY,
    name  text NOT NULL
);

CREATE TABLE permit_types (
    code         text PRIMARY KEY,
    name         text NOT NULL,
    agency_code  text NOT NULL REFERENCES agencies (code)
);

CREATE TABLE permit_rules (
    id           serial PRIMARY KEY,
    hs_prefix    text NOT NULL CHECK (hs_prefix ~ '^[0-9]{2,10}$'),
    permit_type  text NOT NULL REFERENCES permit_types (code),
    note         text NOT NULL DEFAULT '',
    UNIQUE (hs_prefix, permit_type)
);
