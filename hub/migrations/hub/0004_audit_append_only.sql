-- The audit log is append-only for everyone, its owner included: the service role has no UPDATE or
-- DELETE grant, and these triggers refuse them (and TRUNCATE) whoever asks, so a deployment that runs
-- the service as the owner (per-store URLs) keeps the guarantee. Removing them takes an explicit,
-- visible DDL change by the owner.
CREATE FUNCTION hub.audit_event_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hub.audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_no_update_or_delete
    BEFORE UPDATE OR DELETE ON hub.audit_event
    FOR EACH ROW EXECUTE FUNCTION hub.audit_event_is_append_only();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON hub.audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION hub.audit_event_is_append_only();
