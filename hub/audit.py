"""The audit log: one record per operation, released or refused, written before anything leaves.

This first form is a plain append-only table (the hub's service role may INSERT and SELECT, never UPDATE
or DELETE). The hash chain and signed checkpoints of the tamper-evident log build on the same record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

__all__ = ["AuditRecord", "AuditSink", "PgAuditSink"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    request_id: uuid.UUID
    operation_type: str | None
    operation_name: str | None
    caller_org: str
    caller_org_type: str
    caller_user_hash: str
    purpose: str | None
    legal_basis: str | None
    subject_key_id: str | None
    subject_hashes: Sequence[str]
    link_method: str | None
    fields_released: Sequence[str]
    sources_read: Sequence[str]
    decision: str
    reason_codes: Sequence[str]
    trace_id: str | None = None
    link_probability: float | None = None
    model_version: str | None = None


class AuditSink(Protocol):
    async def write(self, record: AuditRecord) -> None:
        """Durably store ``record`` or raise: the caller then releases nothing."""
        ...


_INSERT = """
INSERT INTO hub.audit_event (
    request_id, operation_type, operation_name, caller_org, caller_org_type, caller_user_hash,
    purpose, legal_basis, subject_key_id, subject_hashes, link_method, fields_released, sources_read,
    decision, reason_codes, trace_id, link_probability, model_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
"""


class PgAuditSink:
    """Writes to the hub database; the INSERT commits (synchronously) before the response is sent."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def write(self, record: AuditRecord) -> None:
        # The timeout covers waiting for a connection as well as the INSERT: a hub database that hangs
        # must fail the request quickly (closed), not hold it open.
        async with asyncio.timeout(self.timeout):
            await self._insert(record)

    async def _insert(self, record: AuditRecord) -> None:
        await self.pool.execute(
            _INSERT,
            record.request_id,
            record.operation_type,
            record.operation_name,
            record.caller_org,
            record.caller_org_type,
            record.caller_user_hash,
            record.purpose,
            record.legal_basis,
            record.subject_key_id,
            list(record.subject_hashes),
            record.link_method,
            list(record.fields_released),
            list(record.sources_read),
            record.decision,
            list(record.reason_codes),
            record.trace_id,
            record.link_probability,
            record.model_version,
        )
