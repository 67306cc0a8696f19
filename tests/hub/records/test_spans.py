"""The hub's stored copy of its spans (hub.records.spans) on the real hub database, through the service's
own role: what is buffered is written once, read back in order, bounded in memory, and pruned by age.

The behaviour suite (tests/hub/test_audit_access.py) opens one request's trace through GraphQL; this pins
the store's own promises, which the service's background roles (flush, prune) rely on.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from hub.records import spans
from hub.records.spans import SpanRecord, SpanStore

NOW = dt.datetime.now(dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def span(
    trace_id: str,
    n: int,
    *,
    parent: int | None = None,
    started_at: dt.datetime = NOW,
    attributes: dict[str, object] | None = None,
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=f"{n:016x}",
        parent_span_id=f"{parent:016x}" if parent is not None else None,
        name=f"step {n}",
        kind="internal",
        started_us=(started_at - EPOCH) // dt.timedelta(microseconds=1),
        duration_us=1000 * n,
        status="ok",
        attributes=attributes or {},
    )


def new_trace() -> str:
    return uuid.uuid4().hex


async def test_what_is_flushed_is_read_back_in_the_order_it_started(pool: asyncpg.Pool) -> None:
    trace = new_trace()
    store = SpanStore()
    attributes = {"welfare_hub.purpose": "BLUE_BADGE", "welfare_hub.fields": ["Person.subjectId"], "n": 3, "ok": True}
    # Added as they end (children first), read as they started.
    store.add(span(trace, 3, parent=1, started_at=NOW + dt.timedelta(milliseconds=2)))
    store.add(span(trace, 2, parent=1, started_at=NOW + dt.timedelta(milliseconds=1), attributes=attributes))
    store.add(span(trace, 1, started_at=NOW))
    store.add(span(new_trace(), 9))  # another request's
    assert await store.flush(pool) == 4
    assert await store.flush(pool) == 0  # nothing is written twice
    rows = await spans.read(pool, trace, statement_timeout=5)
    assert [(r.span_id, r.parent_span_id) for r in rows] == [
        (f"{1:016x}", None),
        (f"{2:016x}", f"{1:016x}"),
        (f"{3:016x}", f"{1:016x}"),
    ]
    assert rows[1].attributes == attributes
    assert (rows[1].name, rows[1].kind, rows[1].duration_us, rows[1].status) == ("step 2", "internal", 2000, "ok")
    assert rows[0].started_at == NOW


async def test_spans_started_together_are_read_by_their_id(pool: asyncpg.Pool) -> None:
    trace = new_trace()
    store = SpanStore()
    for n in (5, 2, 7):
        store.add(span(trace, n))
    await store.flush(pool)
    assert [r.span_id for r in await spans.read(pool, trace, statement_timeout=5)] == [f"{n:016x}" for n in (2, 5, 7)]


async def test_a_span_stored_twice_is_kept_once(pool: asyncpg.Pool) -> None:
    trace = new_trace()
    store = SpanStore()
    store.add(span(trace, 1))
    await store.flush(pool)
    store.add(span(trace, 1))
    assert await store.flush(pool) == 1
    assert len(await spans.read(pool, trace, statement_timeout=5)) == 1


async def test_an_unknown_trace_has_no_spans(pool: asyncpg.Pool) -> None:
    assert await spans.read(pool, new_trace(), statement_timeout=5) == []


async def test_the_buffer_is_bounded_and_drops_the_oldest(pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hub database that stops taking spans must not grow the process without end.
    monkeypatch.setattr(spans, "_MAX_BUFFERED", 3)
    trace = new_trace()
    store = SpanStore()
    for n in range(1, 6):
        store.add(span(trace, n, started_at=NOW + dt.timedelta(milliseconds=n)))
    assert store.dropped == 2
    assert await store.flush(pool) == 3
    assert [r.name for r in await spans.read(pool, trace, statement_timeout=5)] == ["step 3", "step 4", "step 5"]


async def test_pruning_removes_only_what_is_older_than_the_retention(pool: asyncpg.Pool) -> None:
    trace = new_trace()
    store = SpanStore()
    for n, age in ((1, 40), (2, 29), (3, 10), (4, 0)):
        store.add(span(trace, n, started_at=NOW - dt.timedelta(days=age)))
    await store.flush(pool)

    async def kept() -> list[str]:
        return [r.name for r in await spans.read(pool, trace, statement_timeout=5)]

    await spans.prune(pool, days=30)
    assert await kept() == ["step 2", "step 3", "step 4"]
    await spans.prune(pool, days=5)
    assert await kept() == ["step 4"]


async def test_a_batch_with_a_span_twice_and_one_that_cannot_be_made_a_row_stores_the_rest(
    pool: asyncpg.Pool,
) -> None:
    trace = new_trace()
    store = SpanStore()

    def broken(raw: object) -> list[SpanRecord]:
        raise ValueError(str(raw))

    for n in range(1, 501, 2):  # made rows at flush, as the tracer's traces are
        store.defer(lambda n: [span(trace, n), span(trace, n + 1)], n)
    store.add(span(trace, 7))  # the same span again, in the same batch
    store.defer(broken, "x")
    store.defer(lambda _: [], "nothing to keep")
    assert await store.flush(pool) == 501
    rows = await spans.read(pool, trace, statement_timeout=5)
    assert sorted(int(r.span_id, 16) for r in rows) == list(range(1, 501))
    assert rows[0].started_at == NOW


async def test_a_trace_that_cannot_be_encoded_costs_no_other_trace_its_row(pool: asyncpg.Pool) -> None:
    good, bad = new_trace(), new_trace()
    store = SpanStore()
    store.add(span(good, 1))
    store.add(span(bad, 1, attributes={"n": 2**70}))  # JSON cannot carry it
    assert await store.flush(pool) == 1
    assert [r.span_id for r in await spans.read(pool, good, statement_timeout=5)] == [f"{1:016x}"]
    assert await spans.read(pool, bad, statement_timeout=5) == []
