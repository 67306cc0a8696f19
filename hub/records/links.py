"""The identity step of a lookup: from a NINO or from demographics to the person's records.

NINO first: its keyed hash finds the person in the link index (built by ``welfare-hub link build``),
which knows every record of that person in every source, including council records whose NINO was
missing or mistyped. Without a NINO (or when the index does not know it) the demographics are scored
online against DWP candidates with the same model and bands as the batch build: a link releases, a
review-band match releases nothing and says so, a non-link is "not found".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypedDict

import asyncpg

from hub.db import unavailable_as
from hub.errors import LinkageUnavailable
from hub.records.spans import StoreQuery, database_of, traced
from linkage import Demographics, FSModel, KeyedHash, Thresholds
from linkage.link import Decision, decide

__all__ = [
    "NO_PERSON",
    "EvidenceTerm",
    "IndexedPerson",
    "LinkIndex",
    "ReviewQueue",
    "ReviewRow",
    "load_link_model",
    "person_key_of",
]


#: The person key of a NINO the index holds for more than one person: no one's.
NO_PERSON = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class IndexedPerson:
    person_key: uuid.UUID
    records: dict[str, list[str]]  # source -> record ids linked to the person (band 'link' only)
    #: The NINO is on DWP records of more than one person (DWP's spine holds duplicates, and a NINO issued
    #: twice is one of them): the index names no one by it, and reads no one's records (``records`` empty).
    ambiguous: bool = False


_BY_NINO = """
SELECT s.nino_hash, l.person_key, l.source, l.source_record_id
  FROM hub.link s
  JOIN hub.link l ON l.person_key = s.person_key AND l.band = 'link'
 WHERE s.source = 'dwp' AND s.band = 'link' AND s.nino_hash = ANY($1::text[])
"""
_BY_PERSON = "SELECT person_key, source, source_record_id FROM hub.link WHERE person_key = $1 AND band = 'link'"

#: The link index not answering (down, slow, or no connection free in time): a stable code, never an
#: internal error; nothing is released for a person who could not be found.
_unavailable = unavailable_as(lambda: LinkageUnavailable("the link index cannot be read now"))


class LinkIndex:
    def __init__(self, pool: asyncpg.Pool, *, model: FSModel | None, thresholds: Thresholds, timeout: float) -> None:
        self.pool = pool
        self.model = model
        self.thresholds = thresholds
        self.timeout = timeout
        namespace = database_of(pool)
        self._by_nino = StoreQuery(namespace, "hub.link", _BY_NINO)
        self._by_person = StoreQuery(namespace, "hub.link", _BY_PERSON)

    @staticmethod
    def _person(rows: list[asyncpg.Record]) -> IndexedPerson | None:
        if not rows:
            return None
        if len({row["person_key"] for row in rows}) > 1:
            return IndexedPerson(NO_PERSON, {}, ambiguous=True)
        records: dict[str, list[str]] = {}
        for row in rows:
            records.setdefault(row["source"], []).append(row["source_record_id"])
        return IndexedPerson(rows[0]["person_key"], records)

    @_unavailable
    async def by_ninos(self, keyed: Sequence[Sequence[KeyedHash]]) -> list[IndexedPerson | None]:
        """One query for many lookups (a request's DataLoader batches them). Each lookup gives its NINO's
        hash under every key in the ring, so it is found whichever key the index row was made with."""
        values = [k.value for hashes in keyed for k in hashes]
        with traced(self._by_nino):
            rows = await self.pool.fetch(self._by_nino.text, values, timeout=self.timeout)
        grouped: dict[str, list[asyncpg.Record]] = {}
        for row in rows:
            grouped.setdefault(row["nino_hash"], []).append(row)
        out = []
        for hashes in keyed:
            found: list[asyncpg.Record] = []
            for k in hashes:
                found += grouped.get(k.value, [])
            out.append(self._person(found))
        return out

    @_unavailable
    async def by_person(self, person_key: uuid.UUID) -> IndexedPerson | None:
        with traced(self._by_person):
            rows = await self.pool.fetch(self._by_person.text, person_key, timeout=self.timeout)
        return self._person(list(rows))

    def decide(self, query: Demographics, candidates: list[tuple[int, Demographics]]) -> Decision | None:
        if self.model is None:
            return None
        return decide([query], candidates, model=self.model, thresholds=self.thresholds)[0]


def load_link_model(path: Path | None) -> FSModel | None:
    """The model file if there is one (the demographic fallback is unavailable without it)."""
    if path is None or not path.exists():
        return None
    return FSModel.loads(path.read_text())


class EvidenceTerm(TypedDict):
    """One comparison's part in a decision, as the link index stores it (JSON)."""

    comparison: str
    level: str
    weight: float | Decimal  # a Decimal when read through the hub pool's exact-number JSON codec


@dataclass(frozen=True, slots=True)
class ReviewRow:
    review_id: int
    source: str
    source_record_id: str
    candidate_person: uuid.UUID
    reason: str
    probability: float | None
    match_weight: float | None
    model_version: str | None
    evidence: list[EvidenceTerm]
    status: str
    created_at: dt.datetime
    link_threshold: float | None = None
    review_threshold: float | None = None

    @property
    def why(self) -> str:
        """Why the item is in the queue, for the person deciding it: the hub's reason in words, the bands it
        was weighed against (kept with the item since migration 0028), and the details that counted for and
        against, strongest first. Names no value of the record (the evidence is comparison levels only)."""
        if self.reason == "spine_record_in_review":
            head = (
                "The record matches a DWP record that is itself in review: DWP holds that record's National "
                "Insurance number on another person's record too, so nothing links to it until a person decides "
                "whose it is"
            )
        elif self.reason == "nino_conflict":
            head = (
                "The record's National Insurance number is this person's, but its other details do not agree "
                "well enough to link on the number alone (it may be a household member's number)"
            )
        else:
            chance = f"{self.probability:.1%}" if self.probability is not None else "an unknown chance"
            if self.link_threshold is not None and self.review_threshold is not None:
                bands = (
                    f"at or above the review band ({self.review_threshold:.1%}) and below the link band "
                    f"({self.link_threshold:.1%})"
                )
            else:
                bands = "between the bands of its time (not recorded for this item)"
            head = (
                f"The details agree with a {chance} chance of being the same person: {bands}, or too close to "
                "another candidate to choose"
            )
        terms = sorted(self.evidence, key=lambda e: -abs(float(e["weight"])))
        agree = [f"{e['comparison']} ({e['level']})" for e in terms if float(e["weight"]) > 0]
        differ = [f"{e['comparison']} ({e['level']})" for e in terms if float(e["weight"]) < 0]
        parts = [head + "."]
        if agree:
            parts.append("For: " + ", ".join(agree) + ".")
        if differ:
            parts.append("Against: " + ", ".join(differ) + ".")
        return " ".join(parts)


_REVIEW_COLUMNS = (
    "review_id, source, source_record_id, candidate_person, reason, probability, match_weight, model_version, "
    "evidence, status, created_at, link_threshold, review_threshold"
)


def _review(row: asyncpg.Record) -> ReviewRow:
    evidence = row["evidence"]
    return ReviewRow(**{**dict(row), "evidence": json.loads(evidence) if isinstance(evidence, str) else evidence})


class ReviewQueue:
    """The clerical review queue: candidates between the bands, decided by a person, every decision kept."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def open_items(self, *, limit: int, after: int | None) -> list[ReviewRow]:
        rows = await self.pool.fetch(
            f"SELECT {_REVIEW_COLUMNS} FROM hub.review_item WHERE status = 'open' AND review_id > $1 "  # noqa: S608
            "ORDER BY review_id LIMIT $2",
            after or 0,
            limit,
            timeout=self.timeout,
        )
        return [_review(r) for r in rows]

    @_unavailable
    async def decide(self, review_id: int, *, accept: bool, decided_by: str) -> ReviewRow | None:
        """Accept (link the record to the candidate; other candidates for it are rejected) or reject.

        A record with no candidate left open or accepted (each rejected, or superseded by a rebuild) becomes
        a clerical non-link. Clerical decisions are never overwritten by a later batch build.

        The record's link row is locked first, then its item: the order the batch build takes them in (its
        chunk's links, then their review items), so a decision and a rebuild wait for each other rather than
        deadlock, and two reviewers deciding one record's candidates at once are taken one after the other
        (each sees what the other left open). Bounded: the whole decision within the store's timeout."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            item = await conn.fetchrow(
                "SELECT source, source_record_id FROM hub.review_item WHERE review_id = $1", review_id
            )
            if item is None:
                return None
            await conn.execute(
                "SELECT 1 FROM hub.link WHERE source = $1 AND source_record_id = $2 FOR UPDATE",
                item["source"],
                item["source_record_id"],
            )
            row = await conn.fetchrow(
                f"UPDATE hub.review_item SET status = $2, decided_at = now(), decided_by_hash = $3 "  # noqa: S608
                f"WHERE review_id = $1 AND status = 'open' RETURNING {_REVIEW_COLUMNS}",
                review_id,
                "accepted" if accept else "rejected",
                decided_by,
            )
            if row is None:
                return None
            if accept:
                await conn.execute(
                    "UPDATE hub.review_item SET status = 'rejected', decided_at = now(), decided_by_hash = $3 "
                    "WHERE source = $1 AND source_record_id = $2 AND status = 'open'",
                    row["source"],
                    row["source_record_id"],
                    decided_by,
                )
                await conn.execute(
                    "UPDATE hub.link SET person_key = $3, band = 'link', method = 'clerical', linked_at = now() "
                    "WHERE source = $1 AND source_record_id = $2",
                    row["source"],
                    row["source_record_id"],
                    row["candidate_person"],
                )
            else:
                await conn.execute(
                    "UPDATE hub.link SET person_key = NULL, band = 'non_link', method = 'clerical', linked_at = now() "
                    "WHERE source = $1 AND source_record_id = $2 AND NOT EXISTS (SELECT 1 FROM hub.review_item r "
                    "WHERE r.source = $1 AND r.source_record_id = $2 AND r.status IN ('open', 'accepted'))",
                    row["source"],
                    row["source_record_id"],
                )
            return _review(row)


async def person_key_of(conn: asyncpg.Connection, nino_hashes: Sequence[str]) -> uuid.UUID | None:
    """The hub person a NINO is linked to (its hashes under every key of the ring), if any."""
    value = await conn.fetchval(
        "SELECT person_key FROM hub.link WHERE nino_hash = ANY($1::text[]) AND band = 'link' LIMIT 1",
        list(nino_hashes),
    )
    return value if isinstance(value, uuid.UUID) else None
