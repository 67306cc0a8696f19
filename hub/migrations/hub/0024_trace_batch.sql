-- The hub's copy of its spans, one row per request's batch rather than per span: over the subgraphs a
-- request has about 29 spans (8 of the hub's, 7 from each subgraph), and 0013's row per span cost the
-- database an index entry and three pattern checks for each. The ids are checked where the spans are made
-- (the hub's own) or received (a subgraph's: resolvers/sources/remote/spans.py). Each element of `spans` is
-- [span_id, parent_span_id, name, kind, started_us, duration_us, status, attributes]; a row holds one
-- trace's spans that started within one hour, and `started_at` is the latest of them (pruned once its
-- youngest span is past the retention). hub.trace_span stays readable for the spans already in it, and is
-- pruned as before.
CREATE TABLE hub.trace_batch (
    trace_id    text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    started_at  timestamptz NOT NULL,
    spans       json NOT NULL CHECK (json_typeof(spans) = 'array')
);
CREATE INDEX trace_batch_trace_idx ON hub.trace_batch (trace_id);
CREATE INDEX trace_batch_started_idx ON hub.trace_batch (started_at);
