"""The hub-internal entity fields, batched per request: one statement per kind of key (and question) for
all the representations of a document, however many there are.

``councils`` and ``postcodeDistricts`` (the ties), ``recordIds``, DWP's ``homeKeys`` and HB's
``openClaims`` each resolve through a per-request :class:`~strawberry.dataloader.DataLoader`: the entities
of one document ask together, and a key asked twice is read once.

Scope: for a source whose records belong to a council (HB, social care), a record outside the assertion's
councils contributes nothing, neither its council nor its postcode district nor its id ("not yours" is
"not held"). DWP is national: its districts are where the person lives, whatever the councils.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from strawberry.dataloader import DataLoader

from hub.types import SubjectKey
from linkage.normalise import normalise_postcode, postcode_parts
from resolvers.sources.contract import Ask
from resolvers.sources.demographics import PeopleTable
from resolvers.sources.pg import PgSource

__all__ = ["Batches", "Ties"]

Ties = tuple[list[str], list[str]]
_MAX_BIGINT_DIGITS = 18


def _lookup(people: PeopleTable, kind: str) -> tuple[str, str] | None:
    """(key expression, WHERE on an array $1) finding one kind of key's records; None when none can."""
    if kind == "id":
        return f"t.{people.id_column}::text", f"t.{people.id_column} = ANY($1::{people.id_type}[])"
    if people.nino_column is None:
        return None
    if people.nino_normalised:
        return f"t.{people.nino_column}", f"t.{people.nino_column} = ANY($1::text[])"
    # Council systems keep the NINO as typed: match on its normalised form (an expression index serves it).
    key = f"upper(replace(t.{people.nino_column}, ' ', ''))"
    return key, f"{key} = ANY($1::text[])"


def _values(people: PeopleTable, kind: str, keys: Sequence[SubjectKey]) -> list[object]:
    values = list(dict.fromkeys(v for k, v in keys if k == kind))
    if kind == "id" and people.id_type == "bigint":
        # An id that is not this source's kind of id names no record here (never an error).
        return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) <= _MAX_BIGINT_DIGITS]
    return list(values)


async def rows_by_key(
    source: PgSource, keys: Sequence[SubjectKey], columns: str, also: str = ""
) -> dict[SubjectKey, list[asyncpg.Record]]:
    """The rows each key finds (``columns`` over alias t, ``also`` an extra condition): one statement per
    kind of key among ``keys``. Identifiers come from the source's PeopleTable (code, checked) and the
    callers' constant SQL; every value is a bind parameter."""
    people = source.people
    found: dict[SubjectKey, list[asyncpg.Record]] = {}
    for kind in ("id", "nino"):
        lookup = _lookup(people, kind)
        values = _values(people, kind, keys)
        if lookup is None or not values:
            continue
        key, where = lookup
        sql = f"SELECT {key} AS k, {columns} FROM {people.answering} t WHERE {where}{also}"  # noqa: S608
        for row in await source._fetch(sql, values):
            found.setdefault((kind, row["k"]), []).append(row)
    return found


@dataclass
class Batches:
    """The per-request loaders of the hub-internal fields."""

    source: Any  # the source's direct adapter
    ask: Ask
    _loaders: dict[str, DataLoader[SubjectKey, Any]] = field(default_factory=dict, repr=False)

    def in_scope(self, council: str | None) -> bool:
        return self.ask.councils is None or (council is not None and council in self.ask.councils)

    def _row_in_scope(self, council: str | None) -> bool:
        # DWP is national: its records belong to no council, and are the person's wherever they live.
        return self.source.people.council_column is None or self.in_scope(council)

    async def _load(self, name: str, load: Callable[[list[SubjectKey]], Any], key: SubjectKey) -> Any:
        loader = self._loaders.get(name)
        if loader is None:
            loader = self._loaders[name] = DataLoader(load_fn=load)
        return await loader.load(key)

    def _council(self) -> tuple[str, str]:
        """(the record's council, the council it ties its person to now) as SQL over alias t."""
        people = self.source.people
        council = f"t.{people.council_column}" if people.council_column else "NULL::text"
        if people.council_column and people.council_current:
            return council, f"CASE WHEN {people.council_current} THEN {council} END"
        return council, council

    # -- the questions ---------------------------------------------------------------------------------

    async def ties(self, key: SubjectKey) -> Ties:
        """The councils the person's records here tie them to, and the postcode districts of those records,
        within the assertion's councils."""
        return await self._load("ties", self._ties, key)  # type: ignore[no-any-return]

    async def _ties(self, keys: list[SubjectKey]) -> list[Ties]:
        council, tie = self._council()
        found = await rows_by_key(self.source, keys, f"{council} AS council, {tie} AS tie, t.postcode")
        out: list[Ties] = []
        for key in keys:
            councils: set[str] = set()
            districts: set[str] = set()
            for row in found.get(key, ()):
                if not self._row_in_scope(row["council"]):
                    continue  # another council's record: its council and its district are that council's
                if row["tie"] and self.in_scope(row["tie"]):
                    councils.add(row["tie"])
                parts = postcode_parts(normalise_postcode(row["postcode"]))
                if parts is not None:
                    districts.add(parts[2])
            out.append((sorted(councils), sorted(districts)))
        return out

    async def record_ids(self, key: SubjectKey) -> list[str]:
        """The ids of the person's records here (by NINO: every record carrying it), within the councils."""
        return await self._load("record_ids", self._record_ids, key)  # type: ignore[no-any-return]

    async def _record_ids(self, keys: list[SubjectKey]) -> list[list[str]]:
        council, _ = self._council()
        id_column = self.source.people.id_column
        found = await rows_by_key(self.source, keys, f"t.{id_column}::text AS id, {council} AS council")
        return [sorted({r["id"] for r in found.get(key, ()) if self._row_in_scope(r["council"])}) for key in keys]

    async def home_keys(self, key: SubjectKey) -> list[str]:
        """DWP: where the person lives, as opaque keys to compare."""
        return await self._load("home_keys", self._home_keys, key)  # type: ignore[no-any-return]

    async def _home_keys(self, keys: list[SubjectKey]) -> list[list[str]]:
        found = await rows_by_key(self.source, keys, "t.person_id::text AS id")
        ids = sorted({r["id"] for rows in found.values() for r in rows})
        homes = await self.source.homes(ids, self.ask) if ids else {}
        return [sorted({h for r in found.get(key, ()) for h in homes.get(r["id"], ())}) for key in keys]

    async def open_claims(self, key: SubjectKey) -> list[tuple[str, str]]:
        """HB: (claim ref, council) of the person's open claims within the councils."""
        return await self._load("open_claims", self._open_claims, key)  # type: ignore[no-any-return]

    async def _open_claims(self, keys: list[SubjectKey]) -> list[list[tuple[str, str]]]:
        found = await rows_by_key(
            self.source,
            keys,
            "t.claim_ref, t.council_code",
            " AND (t.end_date IS NULL OR t.end_date >= current_date)",
        )
        return [
            sorted(
                {(r["claim_ref"], r["council_code"]) for r in found.get(key, ()) if self.in_scope(r["council_code"])}
            )
            for key in keys
        ]
