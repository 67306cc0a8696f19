-- A checkpoint row is a claim that a key signed a head; only its signature makes it one. With one row
-- allowed per (seq, key id), whoever holds the service role's login could insert a bad signature for the
-- head first and the genuine checkpoint was dropped (ON CONFLICT DO NOTHING): the signed bound on a cut
-- of the log's end was lost. Now every row is kept; verification names the bad ones (forged_checkpoint)
-- and the writer counts only the heads it finds validly signed (hub.audit.checkpoints).
ALTER TABLE hub.audit_checkpoint DROP CONSTRAINT audit_checkpoint_seq_key_id_key;
CREATE INDEX audit_checkpoint_key_seq_idx ON hub.audit_checkpoint (key_id, seq DESC);

CREATE OR REPLACE FUNCTION hub.audit_checkpoint_append(
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
        RETURNING c.checkpoint_id INTO made;
    RETURN made;
END;
$$;
