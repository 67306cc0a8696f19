"""What the hub keeps of the spans a source's subgraph returns: another organisation wrote them, so only
known attributes, and nothing that names someone."""

from __future__ import annotations

from hub.audit import tracing
from hub.records.spans import SpanStore

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _span(name: str, attributes: dict[str, object], span_id: str = "b7ad6b7169203331") -> dict[str, object]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": "00f067aa0ba902b7",
        "name": name,
        "kind": "client",
        "startedAt": "2026-12-03T10:00:00+00:00",
        "durationUs": 1200,
        "status": "ok",
        "attributes": attributes,
    }


def test_only_known_attributes_and_no_nino_shaped_text_are_kept() -> None:
    store = SpanStore()
    token = tracing._current_store.set(store)
    try:
        tracing.keep_remote_spans(
            "hb",
            [
                _span(
                    "SELECT src_hb",
                    {
                        "db.system.name": "postgresql",
                        "db.query.text": "SELECT * FROM hb.claim WHERE nino = 'AB123456C'",  # a vendor's literal SQL
                        "subject": "Margaret Okafor",  # free text the hub cannot vet
                        "db.operation.name": "AB 12 34 56 C",  # a known key with a NINO in it
                        "http.response.status_code": 200,
                    },
                ),
                _span("lookup ab123456c", {"error.type": "x"}, span_id="b7ad6b7169203332"),
            ],
        )
    finally:
        tracing._current_store.reset(token)
    kept = store._rows()  # the rows as the flush writes them
    assert len(kept) == 1  # the span named by a NINO is dropped whole
    (span,) = kept
    assert span.name == "SELECT src_hb"
    assert span.attributes == {
        "db.system.name": "postgresql",
        "http.response.status_code": 200,
        "welfare_hub.remote.source": "hb",
    }
