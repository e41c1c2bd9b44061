-- Users, roles, sessions and login throttling (issue 7).
--
-- users holds who may act and in which role; it is audited (0300: audit_attach_known covers it).
-- Password hashes live apart, in user_credentials, so the append-only audit log (readable by
-- PUBLIC) never stores a hash. Sessions keep only sha256(token): a stolen table yields no token.

CREATE TABLE users (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role        text NOT NULL CHECK (role IN ('operator', 'mobile_group', 'auditor', 'declarant', 'admin')),
    group_id    text,                   -- mobile_group: the group whose dispatched alerts it handles
    tin         text,                   -- declarant: the TIN whose declarations it owns
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_group_binding CHECK ((role = 'mobile_group') = (group_id IS NOT NULL)),
    CONSTRAINT users_tin_binding CHECK ((role = 'declarant') = (tin IS NOT NULL))
);

CREATE TABLE user_credentials (
    name           text PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    password_hash  text NOT NULL,       -- argon2id, PHC string
    changed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash  text PRIMARY KEY,       -- hex sha256 of the opaque token
    name        text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ip          text
);
CREATE INDEX sessions_name ON sessions (name);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed logins, per user name and per client address, for throttling across processes.
CREATE TABLE login_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    username  text NOT NULL,
    ip        text NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (username, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

SELECT audit_attach_known();
