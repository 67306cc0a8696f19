"""Tracing, injected: each call runs in the span the hub's factory gives (whose trace context is sent as
``traceparent``), which learns the outcome's code and never a value; the subgraph's own spans come back
only when asked for, and only those that fit (at most 64, the hub's trace, ids of the right shape, bounded
names and attributes) reach the sink.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.errors import SourceUnavailable
from hub.types import RemoteSpan
from resolvers.sources.remote import CircuitBreaker
from resolvers.sources.remote.spans import MAX_NAME, MAX_SPANS, MAX_VALUE, checked_spans
from tests.sources.remote.conftest import MARGARET_NINO, make_ask

SELECTION = {"DwpPerson": frozenset({"name"}), "PersonName": frozenset({"givenName"})}
TRACE = secrets.token_hex(16)
SPAN = secrets.token_hex(8)


@dataclass
class RecordedSpan:
    source: str
    url: str
    attributes: dict[str, str | int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    flags: str = "01"

    def set_attribute(self, key: str, value: str | int) -> None:
        self.attributes[key] = value

    def record_error(self, code: str) -> None:
        self.errors.append(code)

    def headers(self) -> dict[str, str]:
        return {"traceparent": f"00-{TRACE}-{SPAN}-{self.flags}"}


class Tracer:
    def __init__(self, flags: str = "01") -> None:
        self.flags = flags
        self.spans: list[RecordedSpan] = []
        self.kept: list[tuple[str, list[RemoteSpan]]] = []

    @contextlib.contextmanager
    def http_span(self, source: str, url: str) -> Iterator[RecordedSpan]:
        span = RecordedSpan(source, url, flags=self.flags)
        self.spans.append(span)
        yield span

    def sink(self, source: str, spans: list[RemoteSpan]) -> None:
        self.kept.append((source, spans))


def remote(**overrides: Any) -> dict[str, Any]:
    span = {
        "traceId": TRACE,
        "spanId": secrets.token_hex(8),
        "parentSpanId": SPAN,
        "name": "POST /graphql",
        "kind": "server",
        "startedAt": "2026-12-03T10:00:00.123456Z",
        "durationUs": 840,
        "status": "ok",
        "attributes": {"db.operation.name": "SELECT", "welfare_hub.entities": 2},
    }
    return {**span, **overrides}


async def test_the_call_is_traced_and_its_context_sent(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer()
    source = connect("dwp", http_span=tracer.http_span)
    await source.fetch([("nino", MARGARET_NINO), ("id", "404")], make_ask(SELECTION))
    (span,) = tracer.spans
    assert (span.source, span.url) == ("dwp", subgraphs["dwp"].url + "/graphql")
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["welfare_hub.source.batch_size"] == 2
    assert span.errors == []
    received = subgraphs["dwp"].received[0]
    assert received.headers["traceparent"] == f"00-{TRACE}-{SPAN}-01"
    assert "x-welfare-hub-spans" not in {k.lower() for k in received.headers}  # no sink: not asked for
    assert MARGARET_NINO not in repr(span.attributes)


async def test_a_failure_is_recorded_on_the_span_by_its_code(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer()
    subgraphs["dwp"].fake.misbehave = "wrong_count"
    with pytest.raises(SourceUnavailable):
        await connect("dwp", http_span=tracer.http_span).fetch([("id", "1")], make_ask(SELECTION))
    assert tracer.spans[0].errors == ["SOURCE_UNAVAILABLE"]


async def test_the_subgraphs_spans_are_kept_when_asked_for_and_checked(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer()
    good = remote()
    subgraphs["dwp"].fake.extensions = {
        "spans": [
            good,
            remote(traceId=secrets.token_hex(16)),  # someone else's trace
            remote(spanId="xyz"),
            remote(spanId=secrets.token_hex(9)),
            remote(kind="producer"),
            remote(startedAt="2026-12-03T10:00:00"),  # not UTC
            remote(durationUs=-1),
            remote(name="x" * 1000, attributes={"k": "v" * 1000, "flag": True, "n": 3, "": "empty", "o": {"a": 1}}),
        ]
    }
    source = connect("dwp", http_span=tracer.http_span, remote_spans=tracer.sink)
    (record,) = await source.fetch([("id", "1")], make_ask(SELECTION))
    assert record.name.given_name == "Margaret"
    assert subgraphs["dwp"].received[0].headers["x-welfare-hub-spans"] == "1"
    ((name, spans),) = tracer.kept
    assert name == "dwp"
    assert len(spans) == 2
    started = dt.datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert spans[0] == RemoteSpan(
        span_id=good["spanId"],
        parent_span_id=SPAN,
        name="POST /graphql",
        kind="server",
        started_us=(started - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1),
        duration_us=840,
        status="ok",
        attributes={"db.operation.name": "SELECT", "welfare_hub.entities": 2},
    )
    long = spans[1]
    assert len(long.name) == MAX_NAME
    assert long.attributes == {"k": "v" * MAX_VALUE, "n": 3}


def test_at_most_64_spans_are_kept() -> None:
    assert len(checked_spans([remote() for _ in range(500)], TRACE)) == MAX_SPANS
    assert checked_spans({"not": "a list"}, TRACE) == []


async def test_a_failing_sink_never_fails_the_answer(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer()

    def broken(source: str, spans: list[RemoteSpan]) -> None:
        raise RuntimeError("sink down")

    subgraphs["dwp"].fake.extensions = {"spans": [remote()]}
    source = connect("dwp", http_span=tracer.http_span, remote_spans=broken)
    (record,) = await source.fetch([("id", "1")], make_ask(SELECTION))
    assert record is not None


async def test_a_call_failed_fast_by_the_breaker_is_traced_too(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer()
    subgraphs["dwp"].fake.misbehave = "status_500"
    source = connect("dwp", http_span=tracer.http_span, breaker=CircuitBreaker(threshold=1, cool_down=60))
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            await source.fetch([("id", "1")], make_ask(SELECTION))
    assert [s.errors for s in tracer.spans] == [["SOURCE_UNAVAILABLE"], ["SOURCE_UNAVAILABLE"]]
    assert tracer.spans[1].attributes["welfare_hub.source.circuit"] == "open"
    assert "http.response.status_code" not in tracer.spans[1].attributes
    assert len(subgraphs["dwp"].received) == 1


async def test_a_trace_not_sampled_asks_for_no_spans(subgraphs: Any, connect: Any) -> None:
    tracer = Tracer(flags="00")  # the operator's sampler dropped this trace
    subgraphs["dwp"].fake.extensions = {"spans": [remote()]}
    source = connect("dwp", http_span=tracer.http_span, remote_spans=tracer.sink)
    (record,) = await source.fetch([("id", "1")], make_ask(SELECTION))
    assert record is not None
    assert "x-welfare-hub-spans" not in {k.lower() for k in subgraphs["dwp"].received[0].headers}
    assert subgraphs["dwp"].received[0].headers["traceparent"].endswith("-00")
    assert tracer.kept == []


async def test_only_the_spans_that_fit_are_held_after_the_call(subgraphs: Any, connect: Any) -> None:
    import tracemalloc

    held: list[list[RemoteSpan]] = []
    # Near the answer's cap: a few spans, then thousands of small junk ones and one huge name.
    junk = [{} for _ in range(40_000)]
    subgraphs["dwp"].fake.extensions = {"spans": [remote() for _ in range(3)] + junk + [remote(name="x" * 200_000)]}
    source = connect("dwp", http_span=Tracer().http_span, remote_spans=lambda _, spans: held.append(spans))
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        (record,) = await source.fetch([("id", "1")], make_ask(SELECTION))
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert record is not None
    # What the client side still holds (the fake subgraph, in this process, keeps its own copy of its answer).
    retained = sum(
        stat.size_diff
        for stat in after.compare_to(before, "filename")
        if not stat.traceback[0].filename.endswith("fake_subgraph.py")
    )
    assert retained < 512 * 1024, retained  # the parsed junk alone is megabytes
    (spans,) = held
    assert len(spans) == 3
