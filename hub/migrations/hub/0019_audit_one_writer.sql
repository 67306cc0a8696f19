-- Issue 13, holes 7 and 8: only the append function may write the audit log, and it returns what a
-- caller's receipt needs (hub/audit/receipts.py).
--
-- Until now the service role held INSERT on hub.audit_event: it could insert a row with no sequence number
-- (a CHECK over a NULL passes), which `welfare-hub audit verify` counted as "unchained" and passed, and
-- which a subject access report and the "who received this field" answers then read as fact. Now:
--   * hub.audit_append runs as this store's owner (SECURITY DEFINER, a fixed search_path) and is the
--     service role's only way in: hub/ops/migrate.py grants it EXECUTE and no INSERT, UPDATE or DELETE on
--     the log. PUBLIC's default EXECUTE on these functions is revoked;
--   * checkpoints likewise go through hub.audit_checkpoint_append, which also refuses one that signs a head
--     the log does not hold;
--   * a new row carries a sequence number and both hashes whoever inserts it (the owner too);
--   * the rows that predate the chain (0011) are listed, each with a digest of its content, in
--     hub.audit_legacy, closed once made: the verifier accepts exactly those and names any other row
--     outside the chain (hub/audit/verify.py);
--   * the service role reads chained rows only (row-level security), so no reader of the log (subject
--     access, corrections, complaints, reports) can be misled by a row outside it; its verifier learns
--     that such rows exist from hub.audit_unchained(), which names them without their content.

DROP FUNCTION hub.audit_append(
    bytea, uuid, text, text, text, text, text, text, text, text, text[], text, text[], text[], text, text[], text,
    double precision, text);

CREATE FUNCTION hub.audit_append(
    p_body bytea,
    p_request_id uuid,
    p_operation_type text,
    p_operation_name text,
    p_caller_org text,
    p_caller_org_type text,
    p_caller_user_hash text,
    p_purpose text,
    p_legal_basis text,
    p_subject_key_id text,
    p_subject_hashes text[],
    p_link_method text,
    p_fields_released text[],
    p_sources_read text[],
    p_decision text,
    p_reason_codes text[],
    p_trace_id text,
    p_link_probability double precision,
    p_model_version text
) RETURNS TABLE (seq bigint, occurred_at timestamptz, record_hash bytea)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_seq bigint;
    head_hash bytea;
    head_at timestamptz;
    at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(4243250401);  -- the audit chain's lock (hub.audit.chain.CHAIN_LOCK)
    SELECT e.seq, e.record_hash, e.occurred_at INTO head_seq, head_hash, head_at
        FROM hub.audit_event e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := decode(repeat('00', 32), 'hex');
    END IF;
    -- Never earlier than the record before it, whatever the clock does.
    at := greatest(date_trunc('microseconds', clock_timestamp()), head_at);
    INSERT INTO hub.audit_event AS e (
        seq, prev_hash, record_hash, occurred_at,
        request_id, operation_type, operation_name, caller_org, caller_org_type, caller_user_hash,
        purpose, legal_basis, subject_key_id, subject_hashes, link_method, fields_released, sources_read,
        decision, reason_codes, trace_id, link_probability, model_version)
    VALUES (
        head_seq + 1, head_hash,
        sha256(head_hash || int8send(head_seq + 1) || int8send((extract(epoch FROM at) * 1000000)::bigint) || p_body),
        at,
        p_request_id, p_operation_type, p_operation_name, p_caller_org, p_caller_org_type, p_caller_user_hash,
        p_purpose, p_legal_basis, p_subject_key_id, p_subject_hashes, p_link_method, p_fields_released,
        p_sources_read, p_decision, p_reason_codes, p_trace_id, p_link_probability, p_model_version)
    RETURNING e.seq, e.occurred_at, e.record_hash INTO seq, occurred_at, record_hash;
    RETURN NEXT;
END;
$$;
REVOKE EXECUTE ON FUNCTION hub.audit_append FROM PUBLIC;

CREATE FUNCTION hub.audit_checkpoint_append(
    p_seq bigint, p_head_hash bytea, p_signed_at timestamptz, p_key_id text, p_signature bytea
) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    made bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hub.audit_event e WHERE e.seq = p_seq AND e.record_hash = p_head_hash) THEN
        RAISE EXCEPTION 'a checkpoint signs a record the log holds: record % with that hash is not there', p_seq
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO hub.audit_checkpoint AS c (seq, head_hash, signed_at, key_id, signature)
        VALUES (p_seq, p_head_hash, p_signed_at, p_key_id, p_signature)
        ON CONFLICT (seq, key_id) DO NOTHING
        RETURNING c.checkpoint_id INTO made;
    RETURN made;  -- NULL: this key had already signed that record
END;
$$;
REVOKE EXECUTE ON FUNCTION hub.audit_checkpoint_append FROM PUBLIC;

-- Every new row is in the chain, whoever inserts it. NOT VALID: rows from before the chain keep their NULLs
-- (listed below); validated at once where there are none.
ALTER TABLE hub.audit_event ADD CONSTRAINT audit_event_sequenced
    CHECK (seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL) NOT VALID;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hub.audit_event WHERE seq IS NULL OR prev_hash IS NULL OR record_hash IS NULL) THEN
        ALTER TABLE hub.audit_event VALIDATE CONSTRAINT audit_event_sequenced;
    END IF;
END;
$$;

-- A row's content as a digest, for the list of rows from before the chain. The columns are named (a column
-- added later does not change it) and the session's time zone and float format are fixed.
CREATE FUNCTION hub.audit_row_digest(e hub.audit_event) RETURNS bytea
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
SET extra_float_digits = 1
AS $$
    SELECT sha256(convert_to(json_build_array(
        e.event_id, e.occurred_at, e.request_id, e.operation_type, e.operation_name, e.caller_org,
        e.caller_org_type, e.caller_user_hash, e.purpose, e.legal_basis, e.subject_key_id, e.subject_hashes,
        e.link_method, e.fields_released, e.sources_read, e.decision, e.reason_codes, e.trace_id,
        e.link_probability, e.model_version)::text, 'UTF8'))
$$;

CREATE TABLE hub.audit_legacy (
    event_id    bigint PRIMARY KEY,
    digest      bytea NOT NULL CHECK (octet_length(digest) = 32),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO hub.audit_legacy (event_id, digest)
    SELECT e.event_id, hub.audit_row_digest(e) FROM hub.audit_event e
    WHERE e.seq IS NULL OR e.prev_hash IS NULL OR e.record_hash IS NULL;
-- Closed once made: no row joins the list later, and none leaves it.
CREATE TRIGGER audit_legacy_closed
    BEFORE INSERT OR UPDATE OR DELETE ON hub.audit_legacy
    FOR EACH ROW EXECUTE FUNCTION hub.refuse_change();
CREATE TRIGGER audit_legacy_no_truncate
    BEFORE TRUNCATE ON hub.audit_legacy
    FOR EACH STATEMENT EXECUTE FUNCTION hub.refuse_change();

-- The rows outside the chain, by id and time only (no content): documented if listed above unchanged.
CREATE FUNCTION hub.audit_unchained() RETURNS TABLE (event_id bigint, occurred_at timestamptz, documented boolean)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.event_id, e.occurred_at,
           EXISTS (SELECT 1 FROM hub.audit_legacy l
                   WHERE l.event_id = e.event_id AND l.digest = hub.audit_row_digest(e))
    FROM hub.audit_event e
    WHERE e.seq IS NULL OR e.prev_hash IS NULL OR e.record_hash IS NULL
    ORDER BY e.event_id
$$;
REVOKE EXECUTE ON FUNCTION hub.audit_unchained FROM PUBLIC;

-- Readers other than the owner see the chain only.
ALTER TABLE hub.audit_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_event_chained_only ON hub.audit_event FOR SELECT
    USING (seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL);
