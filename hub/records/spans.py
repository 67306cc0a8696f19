"""The hub's stored copy of its spans (hub.trace_span): every statement on that table, in one place.

An auditor opening an audit event sees the request's trace (which source was read, how long each step
took, what failed) from the hub's own database, even where no tracing backend is run or kept for as long
as the audit needs. The spans carry no personal data (:mod:`hub.audit.tracing` makes them so); they are
kept ``trace_retention_days`` and then pruned (:func:`prune`, a background role of the service).

:class:`SpanStore` buffers the spans of one hub's requests as they end and writes them in batches
(:meth:`SpanStore.flush`, another background role): the request never waits on the write, and does not
pay for it either. A request's trace is buffered whole as it ended (``defer``: the tracer's recording,
with what its subgraphs returned) and made rows at flush, and a whole batch goes in one statement
(:data:`_INSERT`), one row per trace holding its spans as a JSON array (``hub.trace_batch``, migration
0024): over the subgraphs a request has about 29 spans, which as rows of their own cost an insert each,
and ``executemany`` encoded them one at a time.

The hub's own stores' statements are spans too (:class:`StoreQuery`, :func:`traced`): a client span per
round trip, by the database conventions, with the statement's parameterised text and never its values.
They are made through the OpenTelemetry API (the provider is the one :mod:`hub.audit.tracing` installs;
this layer may not import it), and only inside a trace being recorded: none when tracing is off
(``OTEL_SDK_DISABLED``), outside a request, or in a trace the sampler dropped.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import asyncpg
import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

__all__ = [
    "SpanRecord",
    "SpanRow",
    "SpanStore",
    "StoreQuery",
    "current_link",
    "database_of",
    "prune",
    "read",
    "traced",
    "traced_for",
]

#: Traces waiting to be stored (each a request's spans, about 29 over the subgraphs, at most 64 a call from
#: each subgraph): beyond that the oldest are dropped, and counted.
_MAX_BUFFERED = 2_000

log = logging.getLogger("welfare_hub.spans")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# A batch as one row per trace: its latest start (microseconds since the epoch, for pruning) and its spans
# as one JSON array (orjson), so a request's spans cost the database one row.
_INSERT = """
INSERT INTO hub.trace_batch (trace_id, started_at, spans)
SELECT t, timestamptz 'epoch' + u * interval '1 microsecond', s::json
  FROM unnest($1::text[], $2::int8[], $3::text[]) AS x(t, u, s)
"""


class SpanRecord(NamedTuple):
    """An ended span as it is stored, in the table's column order."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    name: str
    kind: str  # server, internal, client
    started_us: int  # microseconds since the epoch
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


#: Spans not yet made rows: a converter and what it converts (a request's trace: all its spans).
Pending = tuple[Callable[[Any], Iterable[SpanRecord]], Any]


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

    def defer(self, convert: Callable[[Any], Iterable[SpanRecord]], raw: Any) -> None:
        """Buffer ``raw``, made rows by ``convert`` at flush (off the request path): a whole trace at once."""
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
                rows.extend(convert(raw))
            except Exception as e:  # spans that cannot be made rows never cost the others theirs
                log.warning("spans could not be stored: %s", type(e).__name__)
        return rows

    async def flush(self, pool: asyncpg.Pool) -> int:
        """Write what is buffered, in one statement; the number of spans written."""
        rows = self._rows()
        if not rows:
            return 0
        # One row per trace and hour of starting (a request's spans start within milliseconds: one row),
        # stamped with its latest start: pruned once its youngest span is past the retention.
        batches: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        latest: dict[tuple[str, int], int] = {}
        for r in rows:
            started = r.started_us
            key = (r.trace_id, started // _HOUR_US)
            batches.setdefault(key, []).append(r[1:])  # the stored order: span id .. attributes
            latest[key] = max(latest.get(key, started), started)
        traces, starts, encoded = [], [], []
        written = 0
        for key, spans in batches.items():
            try:  # one trace that cannot be encoded never costs the others theirs
                encoded.append(orjson.dumps(spans).decode())
            except (TypeError, orjson.JSONEncodeError) as e:
                log.warning("a trace's spans could not be stored: %s", type(e).__name__)
                continue
            traces.append(key[0])
            starts.append(latest[key])
            written += len(spans)
        if traces:
            await pool.execute(_INSERT, traces, starts, encoded)
        return written


_MICROSECOND = dt.timedelta(microseconds=1)
_HOUR_US = 3_600_000_000


async def read(pool: asyncpg.Pool, trace_id: str, *, statement_timeout: float) -> list[SpanRow]:
    """A trace's stored spans, in the order they started (none once pruned, or if never kept). A span
    stored twice (a flush retried) is read once."""
    batches = await pool.fetch(
        "SELECT spans FROM hub.trace_batch WHERE trace_id = $1", trace_id, timeout=statement_timeout
    )
    found: dict[str, SpanRow] = {}
    for batch in batches:
        raw = batch["spans"]
        for span_id, parent, name, kind, started, duration, status, attributes in (
            json.loads(raw) if isinstance(raw, str) else raw
        ):
            found.setdefault(
                span_id,
                SpanRow(
                    span_id=span_id,
                    parent_span_id=parent,
                    name=name,
                    kind=kind,
                    started_at=_EPOCH + started * _MICROSECOND,
                    duration_us=duration,
                    status=status,
                    attributes=dict(attributes),
                ),
            )
    legacy = await pool.fetch(
        "SELECT span_id, parent_span_id, name, kind, started_at, duration_us, status, attributes "
        "FROM hub.trace_span WHERE trace_id = $1",
        trace_id,
        timeout=statement_timeout,
    )
    for r in legacy:
        found.setdefault(
            r["span_id"],
            SpanRow(
                span_id=r["span_id"],
                parent_span_id=r["parent_span_id"],
                name=r["name"],
                kind=r["kind"],
                started_at=r["started_at"],
                duration_us=r["duration_us"],
                status=r["status"],
                attributes=json.loads(r["attributes"]) if isinstance(r["attributes"], str) else dict(r["attributes"]),
            ),
        )
    return sorted(found.values(), key=lambda row: (row.started_at, row.span_id))


async def prune(pool: asyncpg.Pool, *, days: int) -> None:
    """Delete the spans that started more than ``days`` days ago (the service's retention)."""
    await pool.execute("DELETE FROM hub.trace_batch WHERE started_at < now() - make_interval(days => $1)", days)
    await pool.execute("DELETE FROM hub.trace_span WHERE started_at < now() - make_interval(days => $1)", days)


# -- the hub's own stores' statements, as client spans -------------------------------------------------

#: The API's tracer: it finds the provider hub.audit.tracing installs, once there is one.
_TRACER = trace.get_tracer("welfare-hub")
_NOT_TRACED: AbstractContextManager[Span] = contextlib.nullcontext(trace.INVALID_SPAN)
_ROOT = otel_context.Context()  # no parent: a span of its own trace


def database_of(pool: object) -> str | None:
    """The database a pool's connections open, from the URL it was made with (read once, no round trip):
    its statements' ``db.namespace``. None when the pool does not say (a wrapper, a DSN naming none)."""
    # asyncpg keeps what its pool was given, and has no public reader for it.
    args = getattr(pool, "_connect_args", None) or ()
    kwargs = getattr(pool, "_connect_kwargs", None) or {}
    if isinstance(kwargs.get("database"), str):
        return str(kwargs["database"])
    dsn = args[0] if args and isinstance(args[0], str) else kwargs.get("dsn")
    if not isinstance(dsn, str):
        return None
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        return None
    return unquote(parts.path.lstrip("/")) or None


class StoreQuery:
    """One statement of a hub store, as its client span describes it (the database semantic conventions):
    made once per store, so that running it traced costs only the span's start and end.

    ``db.operation.name`` is the statement's own verb (``SELECT``, ``INSERT``, ``UPDATE``), read from its
    text; ``collection`` the table it acts on; ``procedure`` the function it calls, if it does (the audit
    append is a ``SELECT`` of ``hub.audit_append``, which inserts). The span is named by the query's
    summary: the verb and what it is applied to (``SELECT hub.link``, ``SELECT hub.audit_append``)."""

    __slots__ = ("attributes", "name", "text")

    def __init__(self, namespace: str | None, collection: str, text: str, *, procedure: str | None = None) -> None:
        operation = text.split(None, 1)[0].upper()
        self.text = text
        self.name = f"{operation} {procedure or collection}"
        self.attributes: dict[str, str] = {
            "db.system.name": "postgresql",
            "db.collection.name": collection,
            "db.operation.name": operation,
            "db.query.summary": self.name,
            "db.query.text": text,  # placeholders only: every value goes as a parameter, never on a span
        }
        if namespace:
            self.attributes["db.namespace"] = namespace
        if procedure:
            self.attributes["db.stored_procedure.name"] = procedure


def traced(query: StoreQuery) -> AbstractContextManager[Span]:
    """A client span, child of the current one, for one run of ``query``; none (a span that records
    nothing) outside a trace being recorded."""
    if not trace.get_current_span().is_recording():
        return _NOT_TRACED
    return _QuerySpan(_TRACER.start_span(query.name, kind=SpanKind.CLIENT, attributes=query.attributes))


def traced_for(query: StoreQuery, links: Sequence[Link]) -> AbstractContextManager[Span]:
    """A client span for one run of ``query`` on behalf of many requests (the audit log's group commit): the
    root of a trace of its own, linked to each request's span, so that no request's trace holds a statement
    that served the others too. None when no request in it was traced (``links`` empty)."""
    if not links:
        return _NOT_TRACED
    return _QuerySpan(
        _TRACER.start_span(query.name, context=_ROOT, kind=SpanKind.CLIENT, attributes=query.attributes, links=links)
    )


def current_link() -> Link | None:
    """A link to the current span, if it is being recorded: what :func:`traced_for` is given."""
    current = trace.get_current_span()
    return Link(current.get_span_context()) if current.is_recording() else None


class _QuerySpan:
    """A query's span for a ``with`` block, ended with it. Not made current: a statement has no steps of its
    own to trace. A failure is marked by its type and SQLSTATE only (a driver's message may quote a value)."""

    __slots__ = ("_span",)

    def __init__(self, started: Span) -> None:
        self._span = started

    def __enter__(self) -> Span:
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        current = self._span
        if error is not None:
            current.set_attribute("error.type", type(error).__name__)
            sqlstate = getattr(error, "sqlstate", None)
            if isinstance(sqlstate, str):
                current.set_attribute("db.response.status_code", sqlstate)
            current.set_status(Status(StatusCode.ERROR))
        current.end()
