-- Issue 13 (holes 3, 4 and 9): the hub's own records scoped to the organisation they belong to, and free
-- text kept clear of NINOs.

-- Corrections are decided by the organisation that owns the record: DWP its own (owner_council NULL), a
-- council its own HB claims and social care cases. A correction reported before this migration does not
-- say which council owns it: it stays NULL, and the hub assigns it (from the source, when one council
-- holds every record it names) the next time a team of that source's owners lists its corrections; until
-- then no council sees or decides it (fail closed).
ALTER TABLE hub.correction ADD COLUMN owner_council text;
ALTER TABLE hub.correction ADD CONSTRAINT correction_dwp_has_no_council
    CHECK (source <> 'dwp' OR owner_council IS NULL);
CREATE INDEX correction_owner_idx ON hub.correction (source, owner_council, correction_id) WHERE status = 'reported';
CREATE INDEX correction_reporter_idx ON hub.correction (reporter_org, correction_id);

-- Consent is to one recipient organisation (report 2.21: specific to a purpose, a recipient and a time).
-- Every consent recorded so far was recorded by the organisation that then relied on it: it becomes that
-- organisation's, and no one else's (before, it let any organisation of the purpose read).
ALTER TABLE hub.consent ADD COLUMN recipient_org text;
UPDATE hub.consent SET recipient_org = recorded_by_org;
ALTER TABLE hub.consent ALTER COLUMN recipient_org SET NOT NULL;
DROP INDEX hub.consent_subject_idx;
CREATE INDEX consent_subject_idx ON hub.consent (subject_hash, purpose, recipient_org);

-- A complaint has a part for each organisation it is about (the callers of its events), each closed by
-- that organisation alone; the complaint is closed when every part is. Existing complaints: each party's
-- part takes the complaint's present status (a closed complaint stays closed, for every party).
CREATE TABLE hub.complaint_party (
    complaint_id  bigint NOT NULL REFERENCES hub.complaint,
    org           text NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'investigating', 'resolved', 'rejected')),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (complaint_id, org)
);
INSERT INTO hub.complaint_party (complaint_id, org, status, updated_at)
SELECT c.complaint_id, e.caller_org, c.status, c.updated_at
  FROM hub.complaint c JOIN hub.audit_event e ON e.seq = ANY (c.event_seqs)
 GROUP BY c.complaint_id, e.caller_org, c.status, c.updated_at;

-- Free text written before the hub refused NINOs in it (hub.access.freetext): NINO-shaped values already
-- stored in correction evidence and complaint summaries and notes are redacted, and an idempotency key
-- holding one is replaced by a value of the hub's own (a repeat of such a key now makes a new
-- notification, which its sender's first answer already told it about). Investigation hold reasons are
-- the audit log's, which only lifting may change: they are for the audit part's own migration.
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
UPDATE hub.correction SET evidence = hub.redact_nino_shaped(evidence)
 WHERE evidence <> hub.redact_nino_shaped(evidence);
UPDATE hub.complaint SET summary = hub.redact_nino_shaped(summary)
 WHERE summary <> hub.redact_nino_shaped(summary);
UPDATE hub.complaint_response SET note = hub.redact_nino_shaped(note)
 WHERE note <> hub.redact_nino_shaped(note);
UPDATE hub.notification SET idempotency_key = 'redacted-' || notification_id::text
 WHERE idempotency_key ~* '(^|[^a-z0-9])[a-z][^a-z0-9]{0,3}[a-z]([^a-z0-9]{0,3}[0-9]){6}[^a-z0-9]{0,3}[a-d]($|[^a-z0-9])';
DROP FUNCTION hub.redact_nino_shaped(text);
