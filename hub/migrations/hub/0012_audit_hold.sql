-- Investigation holds: an entry of the audit log that must not yet appear in the person's subject access
-- report (telling them would tip off an investigation). A hold is placed, and later lifted, by an auditor;
-- holds are never deleted, and lifting is the only change a hold allows.
CREATE TABLE hub.audit_hold (
    hold_id         bigserial PRIMARY KEY,
    seq             bigint NOT NULL,            -- the audit record held back
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    placed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    placed_by_hash  text NOT NULL,
    lifted_at       timestamptz,
    lifted_by_hash  text
);
CREATE INDEX audit_hold_seq_idx ON hub.audit_hold (seq);

CREATE FUNCTION hub.audit_hold_only_lifts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR OLD.lifted_at IS NOT NULL
       OR (NEW.hold_id, NEW.seq, NEW.reason, NEW.placed_at, NEW.placed_by_hash)
          IS DISTINCT FROM (OLD.hold_id, OLD.seq, OLD.reason, OLD.placed_at, OLD.placed_by_hash) THEN
        RAISE EXCEPTION 'hub.audit_hold: a hold may only be lifted, once (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_hold_only_lifts
    BEFORE UPDATE OR DELETE ON hub.audit_hold
    FOR EACH ROW EXECUTE FUNCTION hub.audit_hold_only_lifts();

CREATE TRIGGER audit_hold_no_truncate
    BEFORE TRUNCATE ON hub.audit_hold
    FOR EACH STATEMENT EXECUTE FUNCTION hub.refuse_change();

-- Auditors filter by organisation and purpose, newest first.
CREATE INDEX audit_event_org_seq_idx ON hub.audit_event (caller_org, seq);
CREATE INDEX audit_event_purpose_seq_idx ON hub.audit_event (purpose, seq);
