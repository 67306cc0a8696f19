"""The hub's stored copy of its spans (hub.trace_span): every statement on that table, in one place.

An auditor opening an audit event sees the request's trace (which source was read, how long each step
took, what failed) from the hub's own database, even where no tracing backend is run or kept for as long
as the audit needs. The spans carry no personal data (:mod:`hub.audit.tracing` makes them so); they are
kept ``trace_retention_days`` and then pruned (:func:`prune`, a background role of the service).

:class:`SpanStore` buffers the spans of one hub's requests as they end and writes them in batches
(:meth:`SpanStore.flush`, another background role): the request never waits on the write.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

__all__ = ["SpanRecord", "SpanRow", "SpanStore", "prune", "read"]

_MAX_BUFFERED = 50_000  # spans waiting to be stored; beyond that the oldest are dropped (and counted)


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


class SpanStore:
    """The spans of one hub's requests, waiting to be written to its database.

    Bounded: if the database stops taking them, the oldest are dropped (counted in ``dropped``) rather
    than the process's memory growing without end."""

    def __init__(self) -> None:
        self._buffer: collections.deque[SpanRecord] = collections.deque(maxlen=_MAX_BUFFERED)
        self.dropped = 0

    def add(self, span: SpanRecord) -> None:
        if len(self._buffer) == _MAX_BUFFERED:
            self.dropped += 1
        self._buffer.append(span)

    async def flush(self, pool: asyncpg.Pool) -> int:
        """Write what is buffered (the hub pool's jsonb codec encodes the attributes); the number written."""
        rows = []
        while self._buffer:
            rows.append(self._buffer.popleft())
        if rows:
            await pool.executemany(
                "INSERT INTO hub.trace_span (trace_id, span_id, parent_span_id, name, kind, started_at, duration_us, "
                "status, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (trace_id, span_id) DO NOTHING",
                rows,
            )
        return len(rows)


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
