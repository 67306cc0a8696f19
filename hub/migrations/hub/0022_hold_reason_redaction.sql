-- Free text holds no NINO (issue 13.9, hub.access.freetext): what 0020 did for correction evidence and
-- complaint text, for investigation hold reasons written before the check. A hold may otherwise only be
-- lifted (hub.audit_hold_only_lifts): its trigger is set aside for this one statement, by the owner, in
-- this migration's transaction. A hold's reason is not part of the audit chain's hashes.
CREATE FUNCTION hub.redact_nino_shaped(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(
        value,
        '(?<![A-Za-z0-9])[A-Za-z][^A-Za-z0-9]{0,3}[A-Za-z]([^A-Za-z0-9]{0,3}[0-9]){6}(?![^A-Za-z0-9]{0,3}[0-9])'
        '([^A-Za-z0-9]{0,3}[A-Da-d](?![A-Za-z0-9]))?',
        '[redacted]',
        'g'
    )
$$;
ALTER TABLE hub.audit_hold DISABLE TRIGGER audit_hold_only_lifts;
UPDATE hub.audit_hold SET reason = hub.redact_nino_shaped(reason)
 WHERE reason <> hub.redact_nino_shaped(reason);
ALTER TABLE hub.audit_hold ENABLE TRIGGER audit_hold_only_lifts;
DROP FUNCTION hub.redact_nino_shaped(text);
