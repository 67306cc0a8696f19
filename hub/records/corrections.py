"""Corrections that reach every holder (report 3.76-3.77): reported by a recipient of a field, decided by the
source that owns it, and once confirmed, sent to every organisation the audit log shows received that field
for that person, through the outbox (:mod:`hub.records.notifications`), so that no notice is lost or doubled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from hub.db import hub_records

__all__ = ["CorrectionRow", "CorrectionStore", "NoticeRow"]


@dataclasses.dataclass(frozen=True, slots=True)
class CorrectionRow:
    correction_id: int
    reporter_org: str
    field: str
    source: str
    source_record_ids: tuple[str, ...]
    evidence: str
    status: str
    reported_at: dt.datetime
    decided_at: dt.datetime | None
    notified: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class NoticeRow:
    notice_id: uuid.UUID
    correction_id: int
    field: str
    request_ids: tuple[uuid.UUID, ...]
    delivered_at: dt.datetime


# Fixed column names and statements: every value is a parameter.
_COLUMNS = "correction_id, reporter_org, field, source, source_record_ids, evidence, status, reported_at, decided_at"
_REPORT = (
    "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, source_record_ids, "  # noqa: S608
    f"subject_hashes, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}"
)
_DECIDE = (
    "UPDATE hub.correction SET status = $2, decided_at = clock_timestamp(), decided_by_org = $3, "  # noqa: S608
    "decided_by_hash = $4 WHERE correction_id = $1 AND status = 'reported' AND source = ANY($5::text[]) "
    f"RETURNING {_COLUMNS}, subject_hashes"
)


def _row(r: Mapping[str, Any] | asyncpg.Record, notified: Sequence[str] = ()) -> CorrectionRow:
    return CorrectionRow(
        **{**dict(r), "source_record_ids": tuple(r["source_record_ids"])}, notified=tuple(sorted(notified))
    )


class CorrectionStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @hub_records
    async def received(self, org: str, subject_hashes: Sequence[str], field: str) -> bool:
        """Whether the audit log shows ``org`` received ``field`` about this person."""
        async with asyncio.timeout(self.timeout):
            found = await self.pool.fetchval(
                "SELECT 1 FROM hub.audit_event WHERE caller_org = $1 AND subject_hashes && $2::text[] "
                "AND $3 = ANY(fields_released) AND decision IN ('released', 'partial') LIMIT 1",
                org,
                list(subject_hashes),
                field,
            )
        return found is not None

    @hub_records
    async def report(
        self,
        *,
        org: str,
        user_hash: str,
        field: str,
        source: str,
        source_record_ids: Sequence[str],
        subject_hashes: Sequence[str],
        evidence: str,
    ) -> CorrectionRow:
        async with asyncio.timeout(self.timeout):
            row = await self.pool.fetchrow(
                _REPORT,
                org,
                user_hash,
                field,
                source,
                list(source_record_ids),
                list(subject_hashes),
                evidence,
            )
        assert row is not None
        return _row(row)

    @hub_records
    async def open_for(self, sources: Sequence[str], *, after: int, limit: int) -> list[CorrectionRow]:
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM hub.correction WHERE status = 'reported' "  # noqa: S608
                "AND source = ANY($1::text[]) AND correction_id > $2 ORDER BY correction_id LIMIT $3",
                list(sources),
                after,
                limit,
            )
        return [_row(r) for r in rows]

    @hub_records
    async def decide(
        self, correction_id: int, *, sources: Sequence[str], confirm: bool, org: str, user_hash: str
    ) -> CorrectionRow | None:
        """Confirm or reject a reported correction of one of ``sources``; on confirmation, in the same
        transaction, one outbox delivery per organisation that received the field for the person (with
        the ids of its own requests that did), the reporter included."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _DECIDE,
                correction_id,
                "confirmed" if confirm else "rejected",
                org,
                user_hash,
                list(sources),
            )
            if row is None:
                return None
            recipients: list[asyncpg.Record] = []
            if confirm:
                recipients = await conn.fetch(
                    "SELECT caller_org, array_agg(request_id ORDER BY seq) AS requests FROM hub.audit_event "
                    "WHERE subject_hashes && $1::text[] AND $2 = ANY(fields_released) "
                    "AND decision IN ('released', 'partial') GROUP BY caller_org ORDER BY caller_org",
                    row["subject_hashes"],
                    row["field"],
                )
                await conn.executemany(
                    "INSERT INTO hub.outbox (delivery_id, correction_id, target, target_ref, request_ids) "
                    "VALUES ($1, $2, 'org', $3, $4)",
                    [(uuid.uuid4(), correction_id, r["caller_org"], r["requests"]) for r in recipients],
                )
            decided = dict(row)
            del decided["subject_hashes"]
            return _row(decided, [r["caller_org"] for r in recipients])

    @hub_records
    async def notices(self, org: str, *, after: dt.datetime | None, limit: int) -> list[NoticeRow]:
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                "SELECT notice_id, correction_id, field, request_ids, delivered_at FROM hub.correction_notice "
                "WHERE org = $1 AND ($2::timestamptz IS NULL OR delivered_at > $2) ORDER BY delivered_at LIMIT $3",
                org,
                after,
                limit,
            )
        return [NoticeRow(**{**dict(r), "request_ids": tuple(r["request_ids"])}) for r in rows]

    @hub_records
    async def of_subject(self, subject_hashes: Sequence[str]) -> list[CorrectionRow]:
        """A person's corrections (for their subject access report), with who was told of each."""
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS}, coalesce((SELECT array_agg(DISTINCT n.org) FROM hub.correction_notice n "  # noqa: S608
                "WHERE n.correction_id = c.correction_id), '{}') AS notified "
                "FROM hub.correction c WHERE c.subject_hashes && $1::text[] ORDER BY c.correction_id",
                list(subject_hashes),
            )
        out = []
        for r in rows:
            fields = dict(r)
            notified = fields.pop("notified")
            out.append(_row(fields, notified))
        return out
