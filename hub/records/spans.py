"""The hub's stored copy of its spans (hub.trace_span): every statement on that table, in one place.

An auditor opening an audit event sees the request's trace (which source was read, how long each step
took, what failed) from the hub's own database, even where no tracing backend is run or kept for as long
as the audit needs. The spans carry no personal data (:mod:`hub.audit.tracing` makes them so); they are
kept ``trace_retention_days`` and then pruned (:func:`prune`, a background role of the service).

:class:`SpanStore` buffers the spans of one hub's requests as they end and writes them in batches
(:meth:`SpanStore.flush`, another background role): the request never waits on the write, and does not
pay for it either. A span is buffered as it came (``defer``: the SDK's ended span, a subgraph's checked
dict) and turned into its row at flush, and a whole batch goes in one statement of column arrays
(:data:`_INSERT`): one bind for the batch, not one per span (``executemany`` spent most of the flush
encoding rows one at a time).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
import orjson

__all__ = ["SpanRecord", "SpanRow", "SpanStore", "prune", "read"]

_MAX_BUFFERED = 50_000  # spans waiting to be stored; beyond that the oldest are dropped (and counted)

log = logging.getLogger("welfare_hub.spans")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# A batch as column arrays; the times as microseconds since the epoch (no datetime made per span here),
# the attributes as JSON text (orjson) cast by the database.
_INSERT = """
INSERT INTO hub.trace_span (trace_id, span_id, parent_span_id, name, kind, started_at, duration_us, status, attributes)
SELECT t, s, p, n, k, timestamptz 'epoch' + u * interval '1 microsecond', d, st, a::jsonb
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::text[],
              $9::text[]) AS x(t, s, p, n, k, u, d, st, a)
ON CONFLICT (trace_id, span_id) DO NOTHING
"""


class SpanRecord(NamedTuple):
    """An ended span as it is stored, in the table's column order."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    name: str
    kind: str  # server, internal, client
    started_at: dt.datetime
    duration_us: int
    status: str  # unset, ok, error
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SpanRow:
    """A stored span read back, for the auditor."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    started_at: dt.datetime
    duration_us: int
    status: str
    attributes: dict[str, Any]


#: A span not yet made a row: a converter and what it converts (returning None drops it).
Pending = tuple[Callable[[Any], SpanRecord | None], Any]


class SpanStore:
    """The spans of one hub's requests, waiting to be written to its database.

    Bounded: if the database stops taking them, the oldest are dropped (counted in ``dropped``) rather
    than the process's memory growing without end."""

    def __init__(self) -> None:
        self._buffer: collections.deque[SpanRecord | Pending] = collections.deque(maxlen=_MAX_BUFFERED)
        self.dropped = 0

    def add(self, span: SpanRecord) -> None:
        if len(self._buffer) == _MAX_BUFFERED:
            self.dropped += 1
        self._buffer.append(span)

    def defer(self, convert: Callable[[Any], SpanRecord | None], raw: Any) -> None:
        """Buffer ``raw``, made a row by ``convert`` at flush (off the request path); None drops it."""
        if len(self._buffer) == _MAX_BUFFERED:
            self.dropped += 1
        self._buffer.append((convert, raw))

    def _rows(self) -> list[SpanRecord]:
        rows = []
        while self._buffer:
            item = self._buffer.popleft()
            if isinstance(item, SpanRecord):
                rows.append(item)
                continue
            convert, raw = item
            try:
                record = convert(raw)
            except Exception as e:  # one span that cannot be made a row never costs the others theirs
                log.warning("a span could not be stored: %s", type(e).__name__)
                continue
            if record is not None:
                rows.append(record)
        return rows

    async def flush(self, pool: asyncpg.Pool) -> int:
        """Write what is buffered, in one statement; the number of spans written (or already there)."""
        rows = self._rows()
        if rows:
            await pool.execute(
                _INSERT,
                [r.trace_id for r in rows],
                [r.span_id for r in rows],
                [r.parent_span_id for r in rows],
                [r.name for r in rows],
                [r.kind for r in rows],
                [(r.started_at - _EPOCH) // _MICROSECOND for r in rows],
                [r.duration_us for r in rows],
                [r.status for r in rows],
                [orjson.dumps(r.attributes).decode() for r in rows],
            )
        return len(rows)


_MICROSECOND = dt.timedelta(microseconds=1)


async def read(pool: asyncpg.Pool, trace_id: str, *, statement_timeout: float) -> list[SpanRow]:
    """A trace's stored spans, in the order they started (none once pruned, or if never kept)."""
    rows = await pool.fetch(
        "SELECT span_id, parent_span_id, name, kind, started_at, duration_us, status, attributes "
        "FROM hub.trace_span WHERE trace_id = $1 ORDER BY started_at, span_id",
        trace_id,
        timeout=statement_timeout,
    )
    return [
        SpanRow(
            span_id=r["span_id"],
            parent_span_id=r["parent_span_id"],
            name=r["name"],
            kind=r["kind"],
            started_at=r["started_at"],
            duration_us=r["duration_us"],
            status=r["status"],
            attributes=json.loads(r["attributes"]) if isinstance(r["attributes"], str) else dict(r["attributes"]),
        )
        for r in rows
    ]


async def prune(pool: asyncpg.Pool, *, days: int) -> None:
    """Delete the spans that started more than ``days`` days ago (the service's retention)."""
    await pool.execute("DELETE FROM hub.trace_span WHERE started_at < now() - make_interval(days => $1)", days)
