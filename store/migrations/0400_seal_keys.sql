-- Device authentication (issue 7): per-seal signing keys and the per-seal sequence watermark.
-- Number range 0400-0499: device security.

-- One row per key a seal has ever had. A rotation sets revoked_at of the previous key to
-- now() + grace, so both verify until then; the secret is never returned after creation.
CREATE TABLE seal_keys (
    seal_id     text NOT NULL,
    kid         text NOT NULL CHECK (kid ~ '^[A-Za-z0-9_-]{1,64}$'),
    secret      bytea NOT NULL,
    -- 'fernet': encrypted with SEALWATCH_KEY_ENCRYPTION_KEY; 'raw': stored as is (no key configured).
    secret_enc  text NOT NULL CHECK (secret_enc IN ('raw', 'fernet')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    PRIMARY KEY (seal_id, kid)
);
CREATE INDEX seal_keys_valid ON seal_keys (seal_id) WHERE revoked_at IS NULL;

-- Every change reaches the ingest key caches at once (the payload is the seal id), whoever made it:
-- the API, store.seal_keys, or an operator revoking a key by hand in psql.
CREATE FUNCTION seal_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sealwatch_keys', COALESCE(NEW.seal_id, OLD.seal_id));
    RETURN NULL;
END $$;
CREATE TRIGGER seal_keys_changed AFTER INSERT OR UPDATE OR DELETE ON seal_keys
    FOR EACH ROW EXECUTE FUNCTION seal_keys_notify();

-- The highest seq stored per seal, moved forward in the same transaction as the fixes. A fix
-- more than the replay window below it is rejected as a replay (docs/wire-format.md).
CREATE TABLE seal_seq_watermark (
    seal_id     text PRIMARY KEY,
    max_seq     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO seal_seq_watermark (seal_id, max_seq) SELECT seal_id, max(seq) FROM fixes GROUP BY seal_id;

-- Finds a stored (seal, seq) whatever its time, to tell a redelivery (same fix) from a reused seq.
CREATE INDEX fixes_seal_seq ON fixes (seal_id, seq);
