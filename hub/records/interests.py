"""Continuing entitlement: registered interests in a yes/no answer, re-checked, and a change feed.

A council team registers an interest in a person for a purpose whose decision rests on a yes/no the hub
derives (a Blue Badge without further assessment rests on ``DwpRecord.blueBadgeAutomaticEligibility``).
:meth:`InterestStore.recheck` reads the answer again for every live interest (in batches) and, where it
changed, records the new answer and appends it to the organisation's feed in one transaction, so a change
is reported once. Withdrawn interests are never re-checked and add nothing to the feed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence

import asyncpg

from hub.db import hub_records

__all__ = ["ChangeRow", "InterestRow", "InterestStore"]

log = logging.getLogger("welfare_hub.interests")

#: Reads the answers again: (field, DWP person ids) -> person id -> the yes/no now (absent: not held now).
Answers = Callable[[str, Sequence[str]], Awaitable[Mapping[str, bool]]]


@dataclasses.dataclass(frozen=True, slots=True)
class InterestRow:
    interest_id: int
    purpose: str
    field: str
    person_key: uuid.UUID
    subject_pseudonym: str
    last_answer: bool
    registered_at: dt.datetime
    withdrawn_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class ChangeRow:
    change_id: int
    interest_id: int
    subject_pseudonym: str
    answer: bool
    changed_at: dt.datetime


_INTEREST = "interest_id, purpose, field, person_key, subject_pseudonym, last_answer, registered_at, withdrawn_at"


class InterestStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @hub_records
    async def register(
        self,
        *,
        org: str,
        purpose: str,
        field: str,
        subject: tuple[str, str],
        person_key: uuid.UUID,
        subject_pseudonym: str,
        dwp_person_id: str,
        answer: bool,
        registered_by: str,
    ) -> InterestRow:
        """A live interest (the existing one, if this organisation already has one in the person)."""
        async with asyncio.timeout(self.timeout):
            row = await self.pool.fetchrow(
                f"INSERT INTO hub.interest (org, purpose, field, subject_key_id, subject_hash, person_key, "  # noqa: S608
                "subject_pseudonym, dwp_person_id, last_answer, registered_by_hash) "
                "VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, $9) "
                f"ON CONFLICT (org, purpose, person_key) WHERE withdrawn_at IS NULL DO NOTHING RETURNING {_INTEREST}",
                org,
                purpose,
                field,
                subject[0],
                subject[1],
                person_key,
                dwp_person_id,
                answer,
                registered_by,
                subject_pseudonym,
            )
            if row is None:
                row = await self.pool.fetchrow(
                    f"SELECT {_INTEREST} FROM hub.interest "  # noqa: S608
                    "WHERE org = $1 AND purpose = $2 AND person_key = $3 AND withdrawn_at IS NULL",
                    org,
                    purpose,
                    person_key,
                )
        assert row is not None
        return InterestRow(**dict(row))

    @hub_records
    async def withdraw(self, org: str, interest_id: int) -> InterestRow | None:
        async with asyncio.timeout(self.timeout):
            row = await self.pool.fetchrow(
                f"UPDATE hub.interest SET withdrawn_at = clock_timestamp() "  # noqa: S608
                f"WHERE interest_id = $1 AND org = $2 AND withdrawn_at IS NULL RETURNING {_INTEREST}",
                interest_id,
                org,
            )
        return InterestRow(**dict(row)) if row is not None else None

    @hub_records
    async def changes(self, org: str, purpose: str, *, after: int, limit: int) -> list[ChangeRow]:
        """The organisation's feed for a purpose, oldest first, after a cursor."""
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                "SELECT c.change_id, c.interest_id, i.subject_pseudonym, c.answer, c.changed_at "
                "FROM hub.entitlement_change c JOIN hub.interest i USING (interest_id) "
                "WHERE c.org = $1 AND i.purpose = $2 AND c.change_id > $3 ORDER BY c.change_id LIMIT $4",
                org,
                purpose,
                after,
                limit,
            )
        return [ChangeRow(**dict(r)) for r in rows]

    async def recheck(self, answers: Answers, *, batch: int = 500) -> int:
        """Read every live interest's answer again; record and feed the ones that changed. The number fed."""
        fed, after = 0, 0
        while True:
            async with asyncio.timeout(self.timeout):
                live = await self.pool.fetch(
                    "SELECT interest_id, org, field, dwp_person_id, last_answer FROM hub.interest "
                    "WHERE withdrawn_at IS NULL AND interest_id > $1 ORDER BY interest_id LIMIT $2",
                    after,
                    batch,
                )
            if not live:
                return fed
            after = live[-1]["interest_id"]
            now: dict[tuple[str, str], bool] = {}
            for field in sorted({r["field"] for r in live}):
                ids = sorted({r["dwp_person_id"] for r in live if r["field"] == field})
                now.update({(field, pid): answer for pid, answer in (await answers(field, ids)).items()})
            changed = [
                (r["interest_id"], r["org"], now[(r["field"], r["dwp_person_id"])])
                for r in live
                if (r["field"], r["dwp_person_id"]) in now and now[(r["field"], r["dwp_person_id"])] != r["last_answer"]
            ]
            async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
                for interest_id, org, answer in changed:
                    # Only if still live and still the old answer: a withdrawal or a concurrent re-check wins.
                    updated = await conn.fetchval(
                        "UPDATE hub.interest SET last_answer = $2, checked_at = clock_timestamp() "
                        "WHERE interest_id = $1 AND withdrawn_at IS NULL AND last_answer <> $2 RETURNING interest_id",
                        interest_id,
                        answer,
                    )
                    if updated is not None:
                        await conn.execute(
                            "INSERT INTO hub.entitlement_change (interest_id, org, answer) VALUES ($1, $2, $3)",
                            interest_id,
                            org,
                            answer,
                        )
                        fed += 1
                await conn.execute(
                    "UPDATE hub.interest SET checked_at = clock_timestamp() WHERE interest_id = ANY($1::bigint[])",
                    [r["interest_id"] for r in live],
                )
