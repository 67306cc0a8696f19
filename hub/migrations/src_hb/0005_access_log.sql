-- The source's own access log (issue 14): every question the hub asked this source's subgraph, written by
-- the subgraph before it answers, so the data owner can say who asked about a person, for what, under which
-- hub audit record, without trusting the hub's log. Subjects are keyed hashes (HMAC-SHA256 with the
-- subgraph's own secret) of the NINOs asked about, never the NINO itself; record ids may stay clear.
CREATE TABLE hb.hub_access_log (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti             text UNIQUE,           -- the assertion's id: unique, so a replayed assertion is refused;
                                           -- null for a request whose assertion did not verify
    received_at     timestamptz NOT NULL DEFAULT now(),
    audit_id        uuid,                  -- the hub's audit record this question is made under
    org             text,
    org_type        text,
    purpose         text,
    legal_basis     text,
    fields          text[] NOT NULL DEFAULT '{}',   -- contract coordinates the document selected
    subjects        text[] NOT NULL DEFAULT '{}',   -- 'nino:<hmac hex>' or 'id:<record id>'
    outcome         text NOT NULL CHECK (outcome IN ('answered', 'failed', 'refused')),
    reason          text                   -- the refusal's or failure's stable code, never a value
);
CREATE INDEX hub_access_log_subjects_idx ON hb.hub_access_log USING gin (subjects);
CREATE INDEX hub_access_log_audit_idx ON hb.hub_access_log (audit_id);
CREATE INDEX hub_access_log_received_idx ON hb.hub_access_log (received_at);
