-- Risk profiles (versioned sets of weighted rules) and the stored assessments.

CREATE TABLE risk_profiles (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE risk_rules (
    id               serial PRIMARY KEY,
    profile_version  integer NOT NULL REFERENCES risk_profiles (version),
    code             text NOT NULL,
    kind             text NOT NULL CHECK (kind IN
                       ('hs_code', 'origin_country', 'declarant_history', 'carrier_history', 'value_per_kg', 'route')),
    weight           double precision NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}',
    explanation      text NOT NULL DEFAULT '',
    active           boolean NOT NULL DEFAULT true,
    UNIQUE (profile_version, code)
);

CREATE TABLE risk_assessments (
    id               bigserial PRIMARY KEY,
    declaration_id   bigint NOT NULL REFERENCES declarations (id) ON DELETE CASCADE,
    profile_version  integer NOT NULL REFERENCES risk_profiles (version),
    score            double precision NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('green', 'blue', 'yellow', 'red')),
    score_channel    text NOT NULL CHECK (score_channel IN ('green', 'blue', 'yellow', 'red')),
    random_selected  boolean NOT NULL,
    fired            jsonb NOT NULL,
    controls         text[] NOT NULL,
    monitored        boolean NOT NULL,
    assessed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX risk_assessments_decl ON risk_assessments (declaration_id, id DESC);

-- Profile 1: a plausible starting profile; officers add versions rather than editing history.
INSERT INTO risk_profiles (version, name, active) VALUES (1, 'baseline 2025', true);
INSERT INTO risk_rules (profile_version, code, kind, weight, params, explanation) VALUES
    (1, 'HS_TOBACCO_ALCOHOL', 'hs_code', 35, '{"prefixes": ["2203", "2204", "2208", "2402", "2403"]}',
        'excise goods: alcohol and tobacco are the most smuggled in transit'),
    (1, 'HS_ELECTRONICS', 'hs_code', 15, '{"prefixes": ["8471", "8517", "8528"]}',
        'high value per kg electronics, frequent undervaluation and substitution'),
    (1, 'HS_FUEL', 'hs_code', 20, '{"prefixes": ["2710"]}', 'fuel: diversion to the domestic market'),
    (1, 'ORIGIN_HIGH_RISK', 'origin_country', 20, '{"countries": ["AF", "SY", "YE"]}',
        'origin with a documented record of seizures'),
    (1, 'DECLARANT_ALERTS', 'declarant_history', 25, '{"min_transits": 1}',
        'declarant had transits that raised alerts'),
    (1, 'CARRIER_ALERTS', 'carrier_history', 20, '{"min_transits": 2}',
        'carrier had several transits that raised alerts'),
    (1, 'UNDERVALUED', 'value_per_kg', 30,
        '{"usd_per_kg": {"22": 1.5, "24": 8.0, "61": 6.0, "62": 6.0, "84": 8.0, "85": 10.0, "87": 5.0}}',
        'declared value per kg far below the reference price for the HS chapter'),
    (1, 'ROUTE_LONG_TRANSIT', 'route', 10, '{"routes": ["RBR-BAK", "AST-BAK"]}',
        'long transits crossing the country give more time for diversion');
