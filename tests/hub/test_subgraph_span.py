"""The hub's span for a call to a subgraph, as the tracing backend and the auditor see it: the method, the
subgraph's address, port, path and source, from the configured URL (never the body: it names people)."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.audit import tracing
from resolvers.source_spans import subgraph_span


def test_a_subgraph_calls_span_says_where_it_went_and_hands_on_its_context() -> None:
    provider = tracing.configure({})
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        for url in ("http://dwp.internal:8001/graphql", "https://hb.example/graphql"):
            with subgraph_span("dwp", url) as span:
                span.set_attribute("welfare_hub.source.batch_size", 2)
                traceparent = span.headers()["traceparent"]
        first, second = exporter.get_finished_spans()[-2:]
    finally:
        exporter.shutdown()
    assert first.name == "POST dwp"
    assert dict(first.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "dwp.internal",
        "server.port": 8001,
        "url.path": "/graphql",
        "welfare_hub.source": "dwp",
        "welfare_hub.source.batch_size": 2,
    }
    assert (second.attributes or {})["server.port"] == 443
    ctx = second.get_span_context()
    assert ctx is not None
    assert traceparent == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
    assert int(traceparent[-2:], 16) & 1  # sampled: the subgraph is asked for its spans
