"""The audit log's record and its hash chain: one record per operation, released or refused, written
before anything leaves.

Tamper-evident like X-Road's message log and Certificate Transparency: ``record_hash = SHA-256(prev_hash
|| int8(seq) || int8(occurred_at µs) || body)``, body the record's canonical encoding
(:func:`canonical_body`: sorted-key JSON, ASCII, no spaces). The database appends (``hub.audit_append``:
one writer at a time under an advisory lock, so the sequence has no gaps and time never runs backwards
along it) and refuses UPDATE, DELETE and TRUNCATE. The append function is the only way in: the service
role may execute it but holds no INSERT on the log (0019_audit_one_writer.sql), so it cannot write
a record outside the chain. The append returns the record's place (:class:`Appended`), from which the
caller's receipt is signed (:mod:`hub.audit.receipts`). The chain's head is signed at an interval
(:mod:`hub.audit.checkpoints`), so that even a recomputed chain is caught (:mod:`hub.audit.verify`).

Fail closed: :meth:`PgAuditSink.write` raises if the record is not durably stored, and the caller then
releases nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import asyncpg

__all__ = [
    "BODY_FIELDS",
    "CHAIN_LOCK",
    "GENESIS",
    "Appended",
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


# Placeholders only: every value goes through a parameter.
_APPEND = (
    "SELECT seq, record_hash, occurred_at FROM hub.audit_append("  # noqa: S608
    + ", ".join(f"${i}" for i in range(1, len(BODY_FIELDS) + 2))
    + ")"
)


class PgAuditSink:
    """Appends to the chain in the hub database; it commits before the response is sent."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def write(self, record: AuditRecord) -> Appended:
        # The timeout covers waiting for a connection and for the chain's lock as well as the INSERT: a
        # hub database that hangs must fail the request quickly (closed), not hold it open.
        async with asyncio.timeout(self.timeout):
            row = await self.pool.fetchrow(_APPEND, canonical_body(record), *_arguments(record))
        if row is None or row["record_hash"] is None:
            raise RuntimeError("the audit append returned no record")
        return Appended(row["seq"], bytes(row["record_hash"]), row["occurred_at"])


def _arguments(record: AuditRecord) -> list[Any]:
    values = [getattr(record, name) for name in BODY_FIELDS]
    return [list(v) if isinstance(v, list | tuple) else v for v in values]
