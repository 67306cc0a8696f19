"""Complaints across organisations (report 3.77): one record linked to the audit events it concerns, seen by
the organisations involved and by auditors, with every response kept.

Who closes what: each organisation the complaint is about (the caller of one of its audit events: the one
that asked for, and received, the data) is a **party** with its own part, and only it sets its part's status
(open, investigating, resolved, rejected); a closed part takes no further response. No organisation closes
another's part, and none closes the complaint for everyone: the complaint is resolved or rejected only when
every part is closed (rejected when every party rejected it, else resolved), investigating once any party
has moved its part on, open before. The organisation that raised it (the data protection officer, for the
person) is involved, sees it and may respond with notes, but has no part to close unless it is a party too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.db import hub_records
from hub.errors import BadUserInput

__all__ = ["CLOSED", "ComplaintRow", "ComplaintStore", "PartRow", "ResponseRow", "overall"]

#: A part in one of these statuses is closed: its party has answered for good.
CLOSED = frozenset({"resolved", "rejected"})


def overall(parts: Sequence[str]) -> str:
    """The complaint's status from its parties' statuses (pure)."""
    if parts and all(p in CLOSED for p in parts):
        return "rejected" if all(p == "rejected" for p in parts) else "resolved"
    return "investigating" if any(p != "open" for p in parts) else "open"


@dataclasses.dataclass(frozen=True, slots=True)
class PartRow:
    org: str
    status: str
    updated_at: dt.datetime


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
    parts: tuple[PartRow, ...] = ()


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
            parties = sorted({r["caller_org"] for r in callers})
            row = await conn.fetchrow(
                _RAISE,
                org,
                user_hash,
                summary,
                sorted(set(event_seqs)),
                sorted({*parties, org}),
            )
            assert row is not None
            await conn.executemany(
                "INSERT INTO hub.complaint_party (complaint_id, org) VALUES ($1, $2)",
                [(row["complaint_id"], p) for p in parties],
            )
            return (await self._with_responses(conn, [row]))[0]

    @hub_records
    async def involving(
        self, org: str | None, *, status: str | None, before: int | None, limit: int
    ) -> list[ComplaintRow]:
        """Complaints an organisation is involved in (None: every complaint, for auditors), newest first;
        ``before``: the complaintId of the last one of the previous page."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM hub.complaint "  # noqa: S608
                "WHERE ($1::text IS NULL OR $1 = ANY(organisations)) AND ($2::text IS NULL OR status = $2) "
                "AND ($3::bigint IS NULL OR complaint_id < $3) ORDER BY complaint_id DESC LIMIT $4",
                org,
                status,
                before,
                limit,
            )
            return await self._with_responses(conn, rows)

    @hub_records
    async def respond(
        self, complaint_id: int, *, org: str, user_hash: str, status: str, note: str
    ) -> ComplaintRow | None:
        """An involved organisation's response, setting the status of its own part only (None if it is not
        involved, or its part, or the whole complaint, is closed: the same answer as for no complaint)."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            involved = await conn.fetchval(
                "SELECT status FROM hub.complaint WHERE complaint_id = $1 AND $2 = ANY(organisations) FOR UPDATE",
                complaint_id,
                org,
            )
            if involved is None or involved in CLOSED:
                return None
            part = await conn.fetchval(
                "SELECT status FROM hub.complaint_party WHERE complaint_id = $1 AND org = $2 FOR UPDATE",
                complaint_id,
                org,
            )
            if part is None and status not in ("open", "investigating"):
                raise BadUserInput(
                    "only the organisations the complaint is about close their own part of it: yours is a note "
                    "(status OPEN or INVESTIGATING)"
                )
            if part in CLOSED:
                return None
            if part is not None:
                await conn.execute(
                    "UPDATE hub.complaint_party SET status = $3, updated_at = clock_timestamp() "
                    "WHERE complaint_id = $1 AND org = $2",
                    complaint_id,
                    org,
                    status,
                )
            statuses = await conn.fetch("SELECT status FROM hub.complaint_party WHERE complaint_id = $1", complaint_id)
            row = await conn.fetchrow(
                "UPDATE hub.complaint SET status = $2, updated_at = clock_timestamp() "  # noqa: S608
                f"WHERE complaint_id = $1 RETURNING {_COLUMNS}",
                complaint_id,
                overall([r["status"] for r in statuses]) if statuses else involved,
            )
            assert row is not None
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
        parts: dict[int, list[PartRow]] = {}
        for r in await conn.fetch(
            "SELECT complaint_id, org, status, updated_at FROM hub.complaint_party "
            "WHERE complaint_id = ANY($1::bigint[]) ORDER BY org",
            ids,
        ):
            parts.setdefault(r["complaint_id"], []).append(PartRow(r["org"], r["status"], r["updated_at"]))
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
                parts=tuple(parts.get(r["complaint_id"], ())),
            )
            for r in rows
        ]
