"""What the hub keeps of the spans a source's subgraph returns: another organisation wrote them, so only
known attributes, and nothing that names someone."""

from __future__ import annotations

from hub.audit import tracing
from hub.records.spans import SpanStore
from hub.types import RemoteSpan


def _span(name: str, attributes: dict[str, str | int], span_id: str = "b7ad6b7169203331") -> RemoteSpan:
    return RemoteSpan(span_id, "00f067aa0ba902b7", name, "client", 1_796_292_000_000_000, 1200, "ok", attributes)


def test_only_known_attributes_and_no_nino_shaped_text_are_kept() -> None:
    remote = [
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
    ]
    tracing.configure({})
    store = SpanStore()
    token = tracing._current_store.set(store)
    try:
        with tracing.span("POST /graphql", kind=tracing.SpanKind.SERVER) as server:
            trace_id = f"{server.get_span_context().trace_id:032x}"
            tracing.keep_remote_spans("hb", remote)
    finally:
        tracing._current_store.reset(token)
    rows = store._rows()  # the rows as the flush writes them: the hub's own span, then the subgraph's
    assert rows[0].name == "POST /graphql"
    kept = rows[1:]
    assert len(kept) == 1  # the span named by a NINO is dropped whole
    (span,) = kept
    assert span.trace_id == trace_id  # the trace the hub asked in
    assert span.name == "SELECT src_hb"
    assert span.attributes == {
        "db.system.name": "postgresql",
        "http.response.status_code": 200,
        "welfare_hub.remote.source": "hb",
    }


def test_what_was_found_clean_is_remembered_and_what_names_someone_never_is() -> None:
    named = _span("lookup AB123456C", {"db.namespace": "AB 12 34 56 C", "db.system.name": "postgresql"})
    plain = _span("SELECT src_hb", {"db.namespace": "src_hb"}, span_id="b7ad6b7169203332")
    for _ in range(3):  # the second and third time from memory: the same answer
        rows = tracing._remote_rows("0af7651916cd43dd8448eb211c80319c", "hb", [named, plain])
        assert [r.name for r in rows] == ["SELECT src_hb"]
        assert rows[0].attributes == {"db.namespace": "src_hb", "welfare_hub.remote.source": "hb"}
    assert "lookup AB123456C" not in tracing._NINO_FREE
    assert "AB 12 34 56 C" not in tracing._NINO_FREE
    assert {"SELECT src_hb", "src_hb"} <= tracing._NINO_FREE
    # Bounded: a source sending ever-new texts never grows the memory past its limit.
    many = [_span(f"step {n}", {}, span_id=f"{n:016x}") for n in range(tracing._NINO_FREE_MAX + 10)]
    assert len(tracing._remote_rows("0af7651916cd43dd8448eb211c80319c", "hb", many)) == len(many)
    assert len(tracing._NINO_FREE) <= tracing._NINO_FREE_MAX
