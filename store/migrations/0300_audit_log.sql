-- Append-only, hash-chained audit log of every state change of declarations, transits, seals,
-- seal assignments, alerts and users (the last two when their tables exist).
--
-- Each entry's hash is sha256(prev_hash || audit_canonical(entry)); store.audit.verify recomputes
-- the chain in Python. Ids come from the single-row audit_chain head, not a sequence, so they
-- are gapless: a missing id is a deleted entry, not a rolled-back insert.
--
-- The row triggers are DEFERRABLE INITIALLY DEFERRED constraint triggers: they run at commit,
-- so the chain head's row lock (what makes the chain serial) is held only for the instant between
-- a transaction's audit writes and its commit, never while it still takes other locks (no
-- deadlocks against customs' own row locks), and the chain order is the commit order.

CREATE TABLE audit_log (
    id          bigint PRIMARY KEY,             -- gapless, assigned from audit_chain
    at          timestamptz NOT NULL,           -- clock time of the write (at commit)
    actor       text NOT NULL,                  -- sealwatch.actor setting, else the session user
    table_name  text NOT NULL,
    op          text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
    row_key     jsonb NOT NULL,                 -- the primary key columns of the row
    old         jsonb,                          -- row before (UPDATE, DELETE)
    new         jsonb,                          -- row after (INSERT, UPDATE)
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_log_row ON audit_log (table_name, row_key);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_chain (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id    bigint NOT NULL,
    last_hash  text NOT NULL
);
INSERT INTO audit_chain (last_id, last_hash) VALUES (0, repeat('0', 64));

-- The exact text that is hashed. Every field is length-prefixed so no two entries share a text;
-- NULL is 'N;'. Python reproduces it in store.audit.canonical.
CREATE FUNCTION audit_canonical(
    p_id bigint, p_at timestamptz, p_actor text, p_table text, p_op text, p_key jsonb, p_old jsonb, p_new jsonb
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(CASE WHEN f IS NULL THEN 'N;' ELSE length(f)::text || ':' || f || ';' END, '' ORDER BY i)
    FROM unnest(ARRAY[
        p_id::text,
        ((extract(epoch FROM p_at) * 1000000)::bigint)::text,  -- exact microseconds since the epoch
        p_actor, p_table, p_op, p_key::text, p_old::text, p_new::text
    ]) WITH ORDINALITY AS u(f, i)
$$;

-- SECURITY DEFINER: application roles need no privilege on audit_log or audit_chain, so they
-- cannot write them directly. Inside it current_user is the owner, hence session_user as fallback.
CREATE FUNCTION audit_record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
DECLARE
    v_old jsonb;
    v_new jsonb;
    v_src jsonb;
    v_key jsonb := '{}';
    v_col text;
    v_id bigint;
    v_prev text;
    v_hash text;
    v_at timestamptz := clock_timestamp();
    v_actor text := coalesce(nullif(current_setting('sealwatch.actor', true), ''), session_user::text);
BEGIN
    IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' AND v_old = v_new THEN
        RETURN NULL;  -- an UPDATE that changed nothing is not a state change
    END IF;
    v_src := coalesce(v_new, v_old);
    FOREACH v_col IN ARRAY TG_ARGV LOOP
        v_key := v_key || jsonb_build_object(v_col, v_src -> v_col);
    END LOOP;
    -- The row lock on the head serialises writers until commit: one chain, no forks.
    UPDATE audit_chain SET last_id = last_id + 1 WHERE singleton RETURNING last_id, last_hash INTO v_id, v_prev;
    v_hash := encode(sha256(convert_to(
        v_prev || audit_canonical(v_id, v_at, v_actor, TG_TABLE_NAME, TG_OP, v_key, v_old, v_new), 'UTF8')), 'hex');
    UPDATE audit_chain SET last_hash = v_hash WHERE singleton;
    INSERT INTO audit_log (id, at, actor, table_name, op, row_key, old, new, prev_hash, hash)
    VALUES (v_id, v_at, v_actor, TG_TABLE_NAME, TG_OP, v_key, v_old, v_new, v_prev, v_hash);
    RETURN NULL;
END
$$;

-- Attach the audit trigger to a table (idempotent); the row key is its primary key.
CREATE FUNCTION audit_attach(p_table regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_cols text;
BEGIN
    SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY k.ord) INTO v_cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = p_table AND i.indisprimary;
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'audit_attach: table % has no primary key', p_table;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS audit_row ON %s', p_table);
    EXECUTE format(
        'CREATE CONSTRAINT TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %s '
        'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_record(%s)', p_table, v_cols);
END
$$;

-- Attach to every audited table that exists now; returns their names. The alerts and users
-- tables may come from migrations applied later (or not at all): call this again then.
CREATE FUNCTION audit_attach_known() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
    v_done text[] := '{}';
BEGIN
    FOREACH v_name IN ARRAY ARRAY['declarations', 'transits', 'transit_seals', 'seals', 'alerts', 'users'] LOOP
        IF to_regclass(v_name) IS NOT NULL THEN
            PERFORM audit_attach(to_regclass(v_name));
            v_done := v_done || v_name;
        END IF;
    END LOOP;
    RETURN v_done;
END
$$;
SELECT audit_attach_known();

-- Append-only: refuse UPDATE, DELETE and TRUNCATE for everybody (a superuser can disable the
-- trigger; that is what `sealwatch audit verify` is for).
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_chain_no_truncate BEFORE DELETE OR TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log, audit_chain FROM PUBLIC;
GRANT SELECT ON audit_log TO PUBLIC;
