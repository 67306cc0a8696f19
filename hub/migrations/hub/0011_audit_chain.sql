-- The audit log becomes tamper-evident: every record is chained to the one before it by SHA-256, and
-- signed checkpoints over the chain head let anyone holding the hub's published key check that nothing
-- was altered, removed or reordered (hub/audit.py: the encoding, the signing, `welfare-hub audit verify`).
--
-- record_hash = sha256(prev_hash || int8(seq) || int8(occurred_at in microseconds) || body), where body is
-- the record's canonical encoding (hub.audit.canonical_body), made by the writer and recomputed from the
-- columns by the verifier. The first record's prev_hash is 32 zero bytes.
--
-- One chain, one writer at a time: hub.audit_append takes a transaction-scoped advisory lock, reads the
-- head, and inserts the next record in the same statement, so seq has no gaps and occurred_at never goes
-- backwards along it (bench/audit.py measures what the lock costs under concurrent requests).
ALTER TABLE hub.audit_event
    ADD COLUMN seq bigint,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN record_hash bytea;
CREATE UNIQUE INDEX audit_event_seq_idx ON hub.audit_event (seq);
-- Records written before the chain existed keep NULLs (the verifier counts them as unchained); every
-- new record must be chained.
ALTER TABLE hub.audit_event ADD CONSTRAINT audit_event_chained
    CHECK (seq > 0 AND octet_length(prev_hash) = 32 AND octet_length(record_hash) = 32) NOT VALID;

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
) RETURNS TABLE (seq bigint, occurred_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash bytea;
    head_at timestamptz;
    at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(4243250401);  -- the audit chain's lock (hub.audit.CHAIN_LOCK)
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
    RETURNING e.seq, e.occurred_at INTO seq, occurred_at;
    RETURN NEXT;
END;
$$;

-- Signed checkpoints: the chain head at a moment, signed with the hub's Ed25519 audit key. Append-only
-- like the log.
CREATE FUNCTION hub.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TABLE hub.audit_checkpoint (
    checkpoint_id bigserial PRIMARY KEY,
    seq           bigint NOT NULL CHECK (seq > 0),
    head_hash     bytea NOT NULL CHECK (octet_length(head_hash) = 32),
    signed_at     timestamptz NOT NULL,
    key_id        text NOT NULL,
    signature     bytea NOT NULL CHECK (octet_length(signature) = 64),
    UNIQUE (seq, key_id)
);

CREATE TRIGGER audit_checkpoint_no_update_or_delete
    BEFORE UPDATE OR DELETE ON hub.audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION hub.refuse_change();

CREATE TRIGGER audit_checkpoint_no_truncate
    BEFORE TRUNCATE ON hub.audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION hub.refuse_change();
