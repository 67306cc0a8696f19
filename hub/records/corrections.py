"""Corrections that reach every holder (report 3.76-3.77): reported by a recipient of a field, decided by the
organisation that owns the record, and once confirmed, sent to every organisation the audit log shows
received that field for that person, through the outbox (:mod:`hub.records.notifications`), so that no
notice is lost or doubled.

Who owns a record: DWP owns its own (``owner_council`` is NULL); a council's Housing Benefit claim or social
care case is owned by that council (``owner_council``), and only that council's teams of the right type see
the correction (its evidence included) and decide it. Every read and write here takes the owner as a
parameter, so a team of another council gets what it would for no correction at all. The reporter keeps
seeing its own corrections' status (:meth:`CorrectionStore.reported_by`), never another's.
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
    owner_council: str | None
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
_COLUMNS = (
    "correction_id, reporter_org, field, source, owner_council, source_record_ids, evidence, status, reported_at, "
    "decided_at"
)
_REPORT = (
    "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, owner_council, "  # noqa: S608
    f"source_record_ids, subject_hashes, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}"
)
#: The owner's own corrections only: DWP's records for DWP's teams, a council's for that council's ($2).
_OWNED = "source = ANY($1::text[]) AND (source = 'dwp' OR owner_council = $2::text)"
_DECIDE = (
    "UPDATE hub.correction SET status = $4, decided_at = clock_timestamp(), decided_by_org = $5, "  # noqa: S608
    f"decided_by_hash = $6 WHERE correction_id = $3 AND status = 'reported' AND {_OWNED} "
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
        owners: Mapping[str | None, Sequence[str]],
        subject_hashes: Sequence[str],
        evidence: str,
    ) -> list[CorrectionRow]:
        """One correction per owner of the person's records in ``source`` (``owners``: the owning council, or
        None for DWP, to the ids of the records it holds), in one transaction: each owner decides its own."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            rows = [
                await conn.fetchrow(
                    _REPORT,
                    org,
                    user_hash,
                    field,
                    source,
                    council,
                    list(records),
                    list(subject_hashes),
                    evidence,
                )
                for council, records in sorted(owners.items(), key=lambda o: o[0] or "")
            ]
        return [_row(r) for r in rows if r is not None]

    @hub_records
    async def open_for(
        self, sources: Sequence[str], council: str | None, *, after: int, limit: int
    ) -> list[CorrectionRow]:
        """Reported corrections the owner decides: of ``sources``, DWP's or else ``council``'s records only."""
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM hub.correction WHERE status = 'reported' AND {_OWNED} "  # noqa: S608
                "AND correction_id > $3 ORDER BY correction_id LIMIT $4",
                list(sources),
                council,
                after,
                limit,
            )
        return [_row(r) for r in rows]

    @hub_records
    async def unowned(self, sources: Sequence[str], *, limit: int) -> list[CorrectionRow]:
        """Councils' corrections reported before owners were recorded (migration 0020): to be assigned."""
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM hub.correction WHERE status = 'reported' AND source <> 'dwp' "  # noqa: S608
                "AND owner_council IS NULL AND source = ANY($1::text[]) ORDER BY correction_id LIMIT $2",
                list(sources),
                limit,
            )
        return [_row(r) for r in rows]

    @hub_records
    async def assign_owner(self, correction_id: int, council: str) -> None:
        """Record the council that owns a correction's records (once: an owner is never changed)."""
        async with asyncio.timeout(self.timeout):
            await self.pool.execute(
                "UPDATE hub.correction SET owner_council = $2 WHERE correction_id = $1 AND owner_council IS NULL "
                "AND source <> 'dwp'",
                correction_id,
                council,
            )

    @hub_records
    async def reported_by(self, org: str, *, after: int, limit: int) -> list[CorrectionRow]:
        """The corrections ``org`` reported, with their status (never their evidence to anyone else)."""
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS}, coalesce((SELECT array_agg(DISTINCT o.target_ref) FROM hub.outbox o "  # noqa: S608
                "WHERE o.correction_id = c.correction_id AND o.target = 'org'), '{}') AS notified "
                "FROM hub.correction c WHERE c.reporter_org = $1 AND c.correction_id > $2 "
                "ORDER BY c.correction_id LIMIT $3",
                org,
                after,
                limit,
            )
        out = []
        for r in rows:
            fields = dict(r)
            notified = fields.pop("notified")
            out.append(_row(fields, notified))
        return out

    @hub_records
    async def decide(
        self,
        correction_id: int,
        *,
        sources: Sequence[str],
        council: str | None,
        confirm: bool,
        org: str,
        user_hash: str,
    ) -> CorrectionRow | None:
        """Confirm or reject a reported correction the caller owns (of one of ``sources``: DWP's, or else
        ``council``'s records); None when there is none it owns, which is also the answer for one that does
        not exist. On confirmation, in the same transaction, one outbox delivery per organisation that
        received the field for the person (with the ids of its own requests that did), the reporter
        included."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _DECIDE,
                list(sources),
                council,
                correction_id,
                "confirmed" if confirm else "rejected",
                org,
                user_hash,
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
    async def notices(self, org: str, *, after: tuple[dt.datetime, uuid.UUID] | None, limit: int) -> list[NoticeRow]:
        """Notices for ``org`` by delivery time (the notice id breaking ties); ``after``: the last one's
        (delivered_at, notice_id)."""
        at, notice = after if after is not None else (None, None)
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                "SELECT notice_id, correction_id, field, request_ids, delivered_at FROM hub.correction_notice "
                "WHERE org = $1 AND ($2::timestamptz IS NULL OR (delivered_at, notice_id) > ($2, $3::uuid)) "
                "ORDER BY delivered_at, notice_id LIMIT $4",
                org,
                at,
                notice,
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
