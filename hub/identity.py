"""The identity step of a lookup: from a NINO or from demographics to the person's records.

NINO first: its keyed hash finds the person in the link index (built by ``welfare-hub link build``),
which knows every record of that person in every source, including council records whose NINO was
missing or mistyped. Without a NINO (or when the index does not know it) the demographics are scored
online against DWP candidates with the same model and bands as the batch build: a link releases, a
review-band match releases nothing and says so, a non-link is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from linkage import Demographics, FSModel, KeyedHash, Thresholds
from linkage.link import Decision, decide

__all__ = ["IndexedPerson", "LinkIndex", "load_link_model"]


@dataclass(frozen=True, slots=True)
class IndexedPerson:
    person_key: uuid.UUID
    records: dict[str, list[str]]  # source -> record ids linked to the person (band 'link' only)


_BY_NINO = """
SELECT s.nino_hash, l.person_key, l.source, l.source_record_id
  FROM hub.link s
  JOIN hub.link l ON l.person_key = s.person_key AND l.band = 'link'
 WHERE s.source = 'dwp' AND s.band = 'link' AND s.nino_hash = ANY($1::text[])
"""
_BY_PERSON = "SELECT person_key, source, source_record_id FROM hub.link WHERE person_key = $1 AND band = 'link'"


class LinkIndex:
    def __init__(self, pool: asyncpg.Pool, *, model: FSModel | None, thresholds: Thresholds, timeout: float) -> None:
        self.pool = pool
        self.model = model
        self.thresholds = thresholds
        self.timeout = timeout

    @staticmethod
    def _person(rows: list[asyncpg.Record]) -> IndexedPerson | None:
        if not rows:
            return None
        records: dict[str, list[str]] = {}
        for row in rows:
            records.setdefault(row["source"], []).append(row["source_record_id"])
        return IndexedPerson(rows[0]["person_key"], records)

    async def by_ninos(self, keyed: Sequence[KeyedHash]) -> list[IndexedPerson | None]:
        """One query for many lookups (a request's DataLoader batches them)."""
        rows = await self.pool.fetch(_BY_NINO, [k.value for k in keyed], timeout=self.timeout)
        grouped: dict[str, list[asyncpg.Record]] = {}
        for row in rows:
            grouped.setdefault(row["nino_hash"], []).append(row)
        return [self._person(grouped.get(k.value, [])) for k in keyed]

    async def by_person(self, person_key: uuid.UUID) -> IndexedPerson | None:
        return self._person(list(await self.pool.fetch(_BY_PERSON, person_key, timeout=self.timeout)))

    def decide(self, query: Demographics, candidates: list[tuple[int, Demographics]]) -> Decision | None:
        if self.model is None:
            return None
        return decide([query], candidates, model=self.model, thresholds=self.thresholds)[0]


def load_link_model(path: Path | None) -> FSModel | None:
    """The model file if there is one (the demographic fallback is unavailable without it)."""
    if path is None or not path.exists():
        return None
    return FSModel.loads(path.read_text())
