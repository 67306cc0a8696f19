-- The hub's own store. It never holds a NINO in clear: subjects are HMAC-SHA256 keyed hashes with
-- the id of the key that made them.
CREATE SCHEMA hub;

-- One record per GraphQL operation, released or refused, written before any data leaves (fail closed).
-- The tamper-evident chain and signed checkpoints extend this table (issue 5).
CREATE TABLE hub.audit_event (
    event_id          bigserial PRIMARY KEY,
    occurred_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    request_id        uuid NOT NULL UNIQUE,
    operation_type    text,
    operation_name    text,
    caller_org        text NOT NULL,
    caller_org_type   text NOT NULL,
    caller_user_hash  text NOT NULL,        -- keyed hash of the token's subject (the user)
    purpose           text,
    legal_basis       text,
    subject_key_id    text,                 -- id of the HMAC key that made subject_hashes
    subject_hashes    text[] NOT NULL DEFAULT '{}',
    link_method       text,
    fields_released   text[] NOT NULL DEFAULT '{}',
    sources_read      text[] NOT NULL DEFAULT '{}',
    decision          text NOT NULL CHECK (decision IN ('released', 'partial', 'refused', 'error')),
    reason_codes      text[] NOT NULL DEFAULT '{}',
    trace_id          text
);
CREATE INDEX audit_event_time_idx ON hub.audit_event (occurred_at);
CREATE INDEX audit_event_subject_idx ON hub.audit_event USING gin (subject_hashes);
