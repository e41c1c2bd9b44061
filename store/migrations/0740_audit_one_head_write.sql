-- The audit trigger wrote the chain head twice per audited row (claim the id, then store the
-- hash). Every write of that single row leaves a dead version that later writes step over until
-- vacuum, so a transaction auditing thousands of rows (a large demo fleet's start-up) slowed down
-- with each row. The head is now locked (FOR UPDATE: no new version) and written once. Same ids,
-- same hashes, same serialisation: the chain head's row lock is held to commit as before.

CREATE OR REPLACE FUNCTION audit_record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
    SELECT last_id + 1, last_hash INTO v_id, v_prev FROM audit_chain WHERE singleton FOR UPDATE;
    v_hash := encode(sha256(convert_to(
        v_prev || audit_canonical(v_id, v_at, v_actor, TG_TABLE_NAME, TG_OP, v_key, v_old, v_new), 'UTF8')), 'hex');
    UPDATE audit_chain SET last_id = v_id, last_hash = v_hash WHERE singleton;
    INSERT INTO audit_log (id, at, actor, table_name, op, row_key, old, new, prev_hash, hash)
    VALUES (v_id, v_at, v_actor, TG_TABLE_NAME, TG_OP, v_key, v_old, v_new, v_prev, v_hash);
    RETURN NULL;
END
$$;
