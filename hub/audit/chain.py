"""The audit log's record and its hash chain: one record per operation, released or refused, written
before anything leaves.

Tamper-evident like X-Road's message log and Certificate Transparency: ``record_hash = SHA-256(prev_hash
|| int8(seq) || int8(occurred_at µs) || body)``, body the record's canonical encoding
(:func:`canonical_body`: sorted-key JSON, ASCII, no spaces). The database appends (``hub.audit_append``:
one writer at a time under an advisory lock, so the sequence has no gaps and time never runs backwards
along it; :class:`PgAuditSink` hands it the records waiting in a process as one batch, group commit) and
refuses UPDATE, DELETE and TRUNCATE. The append function is the only way in: the service
role may execute it but holds no INSERT on the log (0019_audit_one_writer.sql), so it cannot write
a record outside the chain. The append returns the record's place (:class:`Appended`), from which the
caller's receipt is signed (:mod:`hub.audit.receipts`). The chain's head is signed at an interval
(:mod:`hub.audit.checkpoints`), so that even a recomputed chain is caught (:mod:`hub.audit.verify`).

Fail closed: :meth:`PgAuditSink.write` raises if the record is not durably stored, and the caller then
releases nothing.

Traced apart from the requests: an append serves every record of its batch, so its span
(``SELECT hub.audit_append``) is the root of a trace of its own, linked to each traced request's
``welfare_hub.audit`` span, never a child of the request that happened to start the writer. The record's
``trace_id`` is its request's (taken in the request, before it is queued), never the append's.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import asyncpg
from opentelemetry.trace import Link

from hub.records.spans import StoreQuery, current_link, database_of, traced_for

__all__ = [
    "BODY_FIELDS",
    "CHAIN_LOCK",
    "GENESIS",
    "MAX_BATCH",
    "Appended",
    "AuditBatchFailed",
    "AuditClosed",
    "AuditRecord",
    "AuditSink",
    "PgAuditSink",
    "Row",
    "canonical_body",
    "micros",
    "record_hash",
]

GENESIS = bytes(32)  # the prev_hash of the first record
CHAIN_LOCK = 4243250401  # the advisory lock hub.audit_append takes (0011_audit_chain.sql)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One resolution, as the chain keeps it. The field order is hub.audit_append's argument order."""

    request_id: uuid.UUID
    operation_type: str | None = None
    operation_name: str | None = None
    caller_org: str
    caller_org_type: str
    caller_user_hash: str
    purpose: str | None = None
    legal_basis: str | None = None
    subject_key_id: str | None = None
    subject_hashes: Sequence[str] = ()
    link_method: str | None = None
    fields_released: Sequence[str] = ()
    sources_read: Sequence[str] = ()
    decision: str
    reason_codes: Sequence[str] = ()
    trace_id: str | None = None
    link_probability: float | None = None
    model_version: str | None = None


#: The record's fields, in the order hub.audit_append takes them; every one is in the hash.
BODY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))


class Row(Protocol):
    """A record read back: an asyncpg row or a mapping (a line of an export)."""

    def __getitem__(self, name: str, /) -> Any: ...


def canonical_body(record: AuditRecord | Row) -> bytes:
    """The bytes a record's hash covers: the same for the writer (an :class:`AuditRecord`) and the
    verifier (a row read back, or a line of an export)."""
    get = (lambda name: getattr(record, name)) if isinstance(record, AuditRecord) else record.__getitem__
    doc: dict[str, Any] = {"v": 1}
    for name in BODY_FIELDS:
        value = get(name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = [str(v) for v in value]
        elif value is not None and not isinstance(value, str | float | int):
            raise TypeError(f"audit field {name} cannot hold a {type(value).__name__}")
        doc[name] = value
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def micros(at: dt.datetime) -> int:
    """Microseconds since the Unix epoch: how a time enters a hash (the database's own resolution)."""
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


def record_hash(prev_hash: bytes, seq: int, occurred_at: dt.datetime, body: bytes) -> bytes:
    """As hub.audit_append computes it (int8 is big-endian, as PostgreSQL's int8send)."""
    head = prev_hash + seq.to_bytes(8, "big", signed=True) + micros(occurred_at).to_bytes(8, "big", signed=True)
    return hashlib.sha256(head + body).digest()


@dataclass(frozen=True, slots=True)
class Appended:
    """Where the chain put a record: its sequence number, its hash and the time it was given."""

    seq: int
    record_hash: bytes
    occurred_at: dt.datetime


class AuditSink(Protocol):
    async def write(self, record: AuditRecord) -> Appended:
        """Durably store ``record`` or raise: the caller then releases nothing."""
        ...

    async def aclose(self) -> None:
        """Take no more records, and store those already taken (the service calls this as it stops)."""
        ...


class AuditClosed(RuntimeError):
    """The sink is stopping: a record that arrives now is refused, not lost."""


class AuditBatchFailed(RuntimeError):
    """The append that carried this record failed: nothing of it was stored (the cause is chained)."""


#: hub.audit_append's argument types after the body, by field: a list field goes in as a JSON array.
_TYPES: dict[str, str] = {
    "request_id": "uuid",
    "subject_hashes": "text[]",
    "fields_released": "text[]",
    "sources_read": "text[]",
    "reason_codes": "text[]",
    "link_probability": "double precision",
}
_LISTS = frozenset(name for name, kind in _TYPES.items() if kind == "text[]")


def _append_many_sql() -> str:
    """One statement appending a batch: every record still goes through hub.audit_append (the log's only
    writer), called once per row of the unnested arguments, in one transaction (the statement's own), so
    either the whole batch is stored or none of it is. The rows come back with their ordinal."""
    columns = ["body", *BODY_FIELDS]
    # unnest cannot take an array of arrays of varying length: a list field travels as one JSON text.
    arrays = ["$1::bytea[]"] + [
        f"${i}::{'text' if name in _LISTS else _TYPES.get(name, 'text')}[]" for i, name in enumerate(BODY_FIELDS, 2)
    ]
    arguments = ["r.body"] + [
        f"ARRAY(SELECT jsonb_array_elements_text(r.{name}::jsonb))" if name in _LISTS else f"r.{name}"
        for name in BODY_FIELDS
    ]
    # Placeholders only: every value goes through a parameter.
    return (
        "SELECT r.ord, a.seq, a.record_hash, a.occurred_at"  # noqa: S608
        f" FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS r({', '.join(columns)}, ord)"
        f" CROSS JOIN LATERAL hub.audit_append({', '.join(arguments)}) AS a"
        " ORDER BY r.ord"
    )


_APPEND_MANY = _append_many_sql()
# A batch of one (a lone request) takes the plain call: the same function, without the unnesting (~0.2 ms).
_APPEND_ONE = (
    "SELECT 1::bigint AS ord, seq, record_hash, occurred_at FROM hub.audit_append("  # noqa: S608
    + ", ".join(f"${i}" for i in range(1, len(BODY_FIELDS) + 2))
    + ")"
)

#: The most records one append carries: bounds the statement's size and the time the chain's lock is held.
MAX_BATCH = 64


@dataclass(slots=True)
class _Waiting:
    body: bytes
    arguments: list[Any]
    done: asyncio.Future[Appended]
    link: Link | None  # to the span of the request writing it, if that is traced


class PgAuditSink:
    """Appends to the chain in the hub database, committed before the response is sent: group commit.

    One writer task per process takes every record waiting, appends them in one statement (one round trip,
    one transaction, one turn of the chain's lock) and gives each waiter its own place in the chain. The
    writer never waits to fill a batch: a lone request's record goes at once, and under load the records
    that arrived during one append make the next. Fail closed: a waiter returns only once its record is
    committed; a failed append fails every record in it (none of them was stored); the timeout covers the
    queueing and the append alike. :meth:`aclose` stores what was taken before the pool closes.
    """

    def __init__(self, pool: asyncpg.Pool, *, timeout: float, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.pool = pool
        self.timeout = timeout
        self.max_batch = max_batch
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        namespace = database_of(pool)
        self._queries = {
            statement: StoreQuery(namespace, "hub.audit_event", statement, procedure="hub.audit_append")
            for statement in (_APPEND_ONE, _APPEND_MANY)
        }

    async def write(self, record: AuditRecord) -> Appended:
        if self._closed:
            raise AuditClosed("the audit log is closed: the hub is stopping")
        waiting = _Waiting(
            canonical_body(record), _arguments(record), asyncio.get_running_loop().create_future(), current_link()
        )
        self._waiting.append(waiting)
        if self._writer is None:
            # A context of its own: the writer serves every request, so it must not run in (or trace into)
            # the context of the one that happened to start it.
            self._writer = asyncio.create_task(self._write_all(), context=contextvars.Context())
        # The timeout covers waiting for the writer, for a connection and for the chain's lock as well as
        # the INSERT: a hub database that hangs must fail the request quickly (closed), not hold it open.
        # A record given up on before its batch was taken is never written (the writer skips it).
        async with asyncio.timeout(self.timeout):
            return await waiting.done

    async def aclose(self) -> None:
        self._closed = True
        writer = self._writer
        if writer is not None:
            # Bounded: nothing joins the queue any more, and each of its batches is under the timeout.
            batches = 1 + len(self._waiting) // self.max_batch
            await asyncio.wait([writer], timeout=self.timeout * (batches + 1))

    async def _write_all(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = []
                while self._waiting and len(batch) < self.max_batch:
                    waiting = self._waiting.popleft()
                    if not waiting.done.done():  # its request gave up (timed out, cancelled)
                        batch.append(waiting)
                if batch:
                    await self._append(batch)
                batch = []
        finally:
            self._writer = None
            # Cancelled mid-append (the loop is closing): no waiter may be left hanging, nor told it was stored.
            for waiting in [*batch, *self._waiting]:
                if not waiting.done.done():
                    waiting.done.set_exception(AuditBatchFailed("the audit writer stopped"))
            self._waiting.clear()

    async def _append(self, batch: list[_Waiting]) -> None:
        if len(batch) == 1:
            statement, arguments = _APPEND_ONE, [batch[0].body, *batch[0].arguments]
        else:
            statement, arguments = _APPEND_MANY, [[w.body for w in batch]]
            for name, values in zip(BODY_FIELDS, zip(*(w.arguments for w in batch), strict=True), strict=True):
                # unnest cannot take an array of arrays of varying length: a list field goes as JSON text.
                arguments.append([json.dumps(v) for v in values] if name in _LISTS else list(values))
        links = [w.link for w in batch if w.link is not None]
        try:
            with traced_for(self._queries[statement], links) as span:
                span.set_attribute("welfare_hub.audit.records", len(batch))
                async with asyncio.timeout(self.timeout):
                    rows = await self.pool.fetch(statement, *arguments)
                if len(rows) != len(batch) or any(row["record_hash"] is None for row in rows):
                    raise RuntimeError(f"the audit append stored {len(rows)} records of {len(batch)}")
        except Exception as e:
            for waiting in batch:
                if not waiting.done.done():
                    failed = AuditBatchFailed("the audit append failed: no record of its batch was stored")
                    failed.__cause__ = e
                    waiting.done.set_exception(failed)
            return
        for row in rows:
            waiting = batch[row["ord"] - 1]
            if not waiting.done.done():
                waiting.done.set_result(Appended(row["seq"], bytes(row["record_hash"]), row["occurred_at"]))


def _arguments(record: AuditRecord) -> list[Any]:
    values = [getattr(record, name) for name in BODY_FIELDS]
    return [[str(v) for v in value] if isinstance(value, list | tuple) else value for value in values]
