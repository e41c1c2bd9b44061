-- Transit declarations (NCTS-like), their goods items and status history; single-window permits.

CREATE SEQUENCE mrn_seq;

CREATE TABLE declarations (
    id                  bigserial PRIMARY KEY,
    lrn                 text,                       -- the declarant's own reference
    mrn                 text UNIQUE,                -- movement reference number, given at release
    status              text NOT NULL DEFAULT 'submitted' CHECK (status IN
                          ('submitted', 'accepted', 'rejected', 'held', 'released', 'arrived', 'closed', 'cancelled')),
    declarant_tin       text NOT NULL,
    declarant_name      text NOT NULL DEFAULT '',
    carrier_name        text NOT NULL,
    carrier_tin         text NOT NULL,
    vehicle_plate       text NOT NULL,
    trailers            text[] NOT NULL DEFAULT '{}',
    containers          text[] NOT NULL DEFAULT '{}',
    office_departure    text NOT NULL,
    offices_transit     text[] NOT NULL DEFAULT '{}',
    office_destination  text NOT NULL,
    route_code          text REFERENCES routes (code),
    itinerary_places    text[] NOT NULL,            -- the resolved place sequence
    seal_count          integer NOT NULL CHECK (seal_count >= 1),
    origin_country      text NOT NULL,
    body                jsonb NOT NULL,             -- the declaration as lodged, for audit
    hold_reasons        jsonb NOT NULL DEFAULT '[]',
    status_reason       text NOT NULL DEFAULT '',
    submitted_at        timestamptz NOT NULL DEFAULT now(),
    accepted_at         timestamptz,
    rejected_at         timestamptz,
    held_at             timestamptz,
    released_at         timestamptz,
    arrived_at          timestamptz,
    closed_at           timestamptz,
    cancelled_at        timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX declarations_status ON declarations (status);
CREATE INDEX declarations_declarant ON declarations (declarant_tin);
CREATE INDEX declarations_carrier ON declarations (carrier_tin);
CREATE UNIQUE INDEX declarations_lrn ON declarations (declarant_tin, lrn) WHERE lrn IS NOT NULL;

CREATE TABLE declaration_items (
    declaration_id  bigint NOT NULL REFERENCES declarations (id) ON DELETE CASCADE,
    item_no         integer NOT NULL CHECK (item_no >= 1),
    hs_code         text NOT NULL CHECK (hs_code ~ '^[0-9]{6,10}$'),
    description     text NOT NULL,
    gross_mass_kg   numeric(14, 3) NOT NULL CHECK (gross_mass_kg > 0),
    net_mass_kg     numeric(14, 3) NOT NULL CHECK (net_mass_kg > 0 AND net_mass_kg <= gross_mass_kg),
    value           numeric(18, 2) NOT NULL CHECK (value >= 0),
    currency        text NOT NULL,
    packages        integer NOT NULL CHECK (packages >= 1),
    PRIMARY KEY (declaration_id, item_no)
);

CREATE TABLE declaration_status_history (
    id              bigserial PRIMARY KEY,
    declaration_id  bigint NOT NULL REFERENCES declarations (id) ON DELETE CASCADE,
    from_status     text,
    to_status       text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL DEFAULT 'system',
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX declaration_status_history_decl ON declaration_status_history (declaration_id, id);

CREATE TABLE permits (
    id            bigserial PRIMARY KEY,
    permit_no     text NOT NULL UNIQUE,
    permit_type   text NOT NULL REFERENCES permit_types (code),
    holder_tin    text NOT NULL,
    hs_prefixes   text[] NOT NULL CHECK (cardinality(hs_prefixes) >= 1),
    quantity_kg   numeric(14, 3) NOT NULL CHECK (quantity_kg > 0),
    -- The constraint is the last line of defence against over-drawing a permit.
    used_kg       numeric(14, 3) NOT NULL DEFAULT 0 CHECK (used_kg >= 0 AND used_kg <= quantity_kg),
    valid_from    date NOT NULL,
    valid_to      date NOT NULL CHECK (valid_to >= valid_from),
    issued_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX permits_holder ON permits (holder_tin, permit_type);

CREATE TABLE permit_usages (
    id              bigserial PRIMARY KEY,
    permit_id       bigint NOT NULL REFERENCES permits (id),
    declaration_id  bigint NOT NULL REFERENCES declarations (id) ON DELETE CASCADE,
    item_no         integer NOT NULL,
    quantity_kg     numeric(14, 3) NOT NULL CHECK (quantity_kg > 0),
    used_at         timestamptz NOT NULL DEFAULT now(),
    returned_at     timestamptz
);
CREATE INDEX permit_usages_decl ON permit_usages (declaration_id);
