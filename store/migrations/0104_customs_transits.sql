-- Seal inventory, monitored transits, and the view the geofence engine reads.

CREATE TABLE seals (
    seal_id             text PRIMARY KEY,
    battery_pct         real NOT NULL CHECK (battery_pct BETWEEN 0 AND 100),
    status              text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'in_use', 'retired')),
    current_transit_id  text,
    registered_at       timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'in_use') = (current_transit_id IS NOT NULL))
);
CREATE INDEX seals_available ON seals (battery_pct DESC) WHERE status = 'available';

CREATE TABLE transits (
    transit_id          text PRIMARY KEY,
    declaration_id      bigint NOT NULL UNIQUE REFERENCES declarations (id),
    seal_id             text REFERENCES seals (seal_id),   -- the first seal; NULL when not monitored
    route_code          text REFERENCES routes (code),
    route_line          jsonb NOT NULL CHECK (route_line->>'type' = 'LineString'),
    corridor            jsonb NOT NULL CHECK (corridor->>'type' = 'Polygon'),
    corridor_width_m    double precision NOT NULL CHECK (corridor_width_m > 0),
    office_departure    text NOT NULL,
    office_destination  text NOT NULL,
    channel             text NOT NULL,
    monitored           boolean NOT NULL,
    released_at         timestamptz NOT NULL,
    deadline            timestamptz NOT NULL CHECK (deadline > released_at),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'arrived', 'closed')),
    arrived_at          timestamptz,
    closed_at           timestamptz
);
CREATE INDEX transits_status ON transits (status);

ALTER TABLE seals ADD CONSTRAINT seals_current_transit_fk FOREIGN KEY (current_transit_id) REFERENCES transits (transit_id);

CREATE TABLE transit_seals (
    transit_id   text NOT NULL REFERENCES transits (transit_id),
    seal_id      text NOT NULL REFERENCES seals (seal_id),
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    returned_at  timestamptz,
    PRIMARY KEY (transit_id, seal_id)
);
-- A seal is on at most one transit at a time: the constraint, not timing, decides a race.
CREATE UNIQUE INDEX transit_seals_one_open_per_seal ON transit_seals (seal_id) WHERE returned_at IS NULL;

-- One row per seal of every active monitored transit: what the geofence engine tracks.
CREATE VIEW active_transits AS
SELECT t.transit_id, ts.seal_id, t.route_line, t.corridor_width_m, t.office_destination, t.deadline, t.released_at
FROM transits t
JOIN transit_seals ts ON ts.transit_id = t.transit_id AND ts.returned_at IS NULL
WHERE t.status = 'active';
