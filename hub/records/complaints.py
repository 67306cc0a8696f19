"""Complaints across organisations (report 3.77): one record linked to the audit events it concerns, seen by
the organisations involved and by auditors, with every response kept."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.db import hub_records

__all__ = ["ComplaintRow", "ComplaintStore", "ResponseRow"]


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseRow:
    org: str
    status: str
    note: str
    responded_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ComplaintRow:
    complaint_id: int
    raised_by_org: str
    summary: str
    event_seqs: tuple[int, ...]
    organisations: tuple[str, ...]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    responses: tuple[ResponseRow, ...] = ()


_COLUMNS = "complaint_id, raised_by_org, summary, event_seqs, organisations, status, created_at, updated_at"
_RAISE = (
    "INSERT INTO hub.complaint (raised_by_org, raised_by_hash, summary, event_seqs, organisations) "  # noqa: S608
    f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}"
)


class ComplaintStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @hub_records
    async def raise_(self, *, org: str, user_hash: str, summary: str, event_seqs: Sequence[int]) -> ComplaintRow | None:
        """A complaint about these audit events (None if any of them does not exist)."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            callers = await conn.fetch(
                "SELECT seq, caller_org FROM hub.audit_event WHERE seq = ANY($1::bigint[])", list(event_seqs)
            )
            if len(callers) != len(set(event_seqs)):
                return None
            organisations = sorted({r["caller_org"] for r in callers} | {org})
            row = await conn.fetchrow(
                _RAISE,
                org,
                user_hash,
                summary,
                sorted(set(event_seqs)),
                organisations,
            )
            assert row is not None
            return (await self._with_responses(conn, [row]))[0]

    @hub_records
    async def involving(self, org: str | None, *, status: str | None, limit: int) -> list[ComplaintRow]:
        """Complaints an organisation is involved in (None: every complaint, for auditors), newest first."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM hub.complaint "  # noqa: S608
                "WHERE ($1::text IS NULL OR $1 = ANY(organisations)) AND ($2::text IS NULL OR status = $2) "
                "ORDER BY complaint_id DESC LIMIT $3",
                org,
                status,
                limit,
            )
            return await self._with_responses(conn, rows)

    @hub_records
    async def respond(
        self, complaint_id: int, *, org: str, user_hash: str, status: str, note: str
    ) -> ComplaintRow | None:
        """An involved organisation's response (None if it is not involved, or the complaint is closed)."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE hub.complaint SET status = $3, updated_at = clock_timestamp() "  # noqa: S608
                "WHERE complaint_id = $1 AND $2 = ANY(organisations) AND status NOT IN ('resolved', 'rejected') "
                f"RETURNING {_COLUMNS}",
                complaint_id,
                org,
                status,
            )
            if row is None:
                return None
            await conn.execute(
                "INSERT INTO hub.complaint_response (complaint_id, org, user_hash, status, note) "
                "VALUES ($1, $2, $3, $4, $5)",
                complaint_id,
                org,
                user_hash,
                status,
                note,
            )
            return (await self._with_responses(conn, [row]))[0]

    async def _with_responses(self, conn: Any, rows: Sequence[asyncpg.Record]) -> list[ComplaintRow]:
        ids = [r["complaint_id"] for r in rows]
        responses: dict[int, list[ResponseRow]] = {}
        for r in await conn.fetch(
            "SELECT complaint_id, org, status, note, responded_at FROM hub.complaint_response "
            "WHERE complaint_id = ANY($1::bigint[]) ORDER BY response_id",
            ids,
        ):
            responses.setdefault(r["complaint_id"], []).append(
                ResponseRow(r["org"], r["status"], r["note"], r["responded_at"])
            )
        return [
            ComplaintRow(
                complaint_id=r["complaint_id"],
                raised_by_org=r["raised_by_org"],
                summary=r["summary"],
                event_seqs=tuple(r["event_seqs"]),
                organisations=tuple(r["organisations"]),
                status=r["status"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                responses=tuple(responses.get(r["complaint_id"], ())),
            )
            for r in rows
        ]
