-- The hub's own copy of its spans, so that an auditor can open an audit record with its trace without a
-- tracing backend. Spans carry no personal data (the telemetry scan in the tests checks every one). Not
-- the audit log: kept for WELFARE_HUB_TRACE_RETENTION_DAYS, then pruned by the service.
CREATE TABLE hub.trace_span (
    trace_id        text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    span_id         text NOT NULL CHECK (span_id ~ '^[0-9a-f]{16}$'),
    parent_span_id  text CHECK (parent_span_id ~ '^[0-9a-f]{16}$'),
    name            text NOT NULL,
    kind            text NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_us     bigint NOT NULL CHECK (duration_us >= 0),
    status          text NOT NULL,
    attributes      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX trace_span_started_idx ON hub.trace_span (started_at);
