"""The direct transport: a source read straight from its PostgreSQL database through asyncpg.

:class:`PgSource` is the behaviour the three adapters share: one parameterised query per kind of key in a
batch, each under the adapter's timeout (acquiring a connection and giving it back included), with driver
failures mapped to the source's own errors and each query in a span from the injected
:data:`~resolvers.sources.base.DbSpan`.

The timeout holds when the source's database hangs (accepts and never answers) as well as when it refuses:
the pool (:func:`hub.db.create_store_pool`) terminates a connection whose statement was given up on rather
than wait for the server to acknowledge a cancel, and the server stops the statement itself
(``statement_timeout``). A hung source costs the fields it serves, for the timeout, and nothing else.
It also serves batch linkage (``scan``, ``sample``, ``count``, ``by_record_ids``, ``people_by_nino``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

import asyncpg

from hub.db import UNAVAILABLE
from hub.errors import HubError, SourceTimeout, SourceUnavailable
from hub.types import SubjectKey
from linkage import PLACEHOLDER_DOBS, Demographics, NormalisedNino
from linkage.normalise import normalise_postcode, postcode_parts
from resolvers.sources.base import DbSpan, no_span
from resolvers.sources.contract import Ask
from resolvers.sources.demographics import PeopleTable, candidate_sql, query_batch, record_from_row, scan_sql, ties_sql

__all__ = ["PgSource", "json_date"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def json_date(value: str | None) -> Any:
    """A date from a row's JSON aggregate (ISO text), or None."""
    return None if value is None else dt.date.fromisoformat(value)


class PgSource:
    """Shared behaviour of the asyncpg-backed adapters: timeout and error mapping around one query.

    ``db_span`` wraps each query (the hub gives its OpenTelemetry one; :func:`no_span` records nothing).
    ``placeholder_dobs`` are the dates this source's system writes for an unknown date of birth
    (:mod:`linkage.placeholders`): its people records reach linkage without them, and a query's date of
    birth that is one of them is no blocking key here. An empty set hands dates on as held (a subgraph
    does: the hub applies its own configuration)."""

    name: str
    #: The youngest a person of a record here can be, for a service of adults only (HB: a claimant or
    #: partner is 16 or over, a non-dependant 18; adult social care, 18): linkage offers no younger candidate.
    youngest: ClassVar[int | None] = None

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timeout: float,
        namespace: str | None = None,
        db_span: DbSpan = no_span,
        placeholder_dobs: frozenset[dt.date] = PLACEHOLDER_DOBS,
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.namespace = namespace or self.name  # the database's name, for traces
        self.db_span = db_span
        self.placeholder_dobs = placeholder_dobs

    async def _run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        # One deadline over the whole use of a connection: waiting for it, the work, and its release (which
        # returns at once for a connection the deadline cut off: the pool terminates it).
        try:
            async with asyncio.timeout(self.timeout):
                async with self.pool.acquire() as conn:
                    return await work(conn)
        except TimeoutError:
            raise SourceTimeout(self.name, f"source {self.name} did not answer within {self.timeout:g} s") from None
        except UNAVAILABLE as e:
            # The driver's message may quote data; log its type only, and keep the cause chained.
            log.warning("source %s unavailable: %s", self.name, type(e).__name__)
            raise SourceUnavailable(self.name, f"source {self.name} is unavailable") from e

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async def work(conn: Any) -> list[asyncpg.Record]:
            return list(await conn.fetch(sql, *args))

        # Every statement is parameterised: the span carries its text, never the values.
        with self.db_span(self.namespace, sql) as span:
            try:
                rows = await self._run(work)
            except HubError as e:
                span.record_error(str(e.extensions["code"]))
                raise
            span.set_attribute("db.response.returned_rows", len(rows))
            return rows

    async def _write(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` in one read-write transaction, under the same timeout and error mapping.

        The hub's role in a source is read-only by default; its inbox is the one table it may write."""

        async def transaction(conn: Any) -> T:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION READ WRITE")
                return await work(conn)

        return await self._run(transaction)

    # -- person records, by NINO or by record id (one query per kind of key in a batch) ---------------

    #: SQL selecting the source's full record rows; ``{key}`` and ``{where}`` are filled per kind of key.
    record_sql: str
    key_by_kind: ClassVar[dict[str, tuple[str, str]]]  # kind -> (key expression, WHERE with $1 array)

    async def fetch_records(self, keys: Sequence[SubjectKey], build: Callable[[Sequence[Any]], T]) -> list[T | None]:
        """One result per key, in order: ``build`` of the rows the key matched (at least one), or None."""
        found: dict[SubjectKey, list[Any]] = {}
        for kind, (key_expr, where) in self.key_by_kind.items():
            values = list(dict.fromkeys(v for k, v in keys if k == kind))
            if not values:
                continue
            typed: list[object] = list(values)
            if kind == "id" and self.people.id_type == "bigint":
                # An id that is not this source's kind of id names no record here (never an error).
                typed = [int(v) for v in values if v.isascii() and v.isdigit() and len(v) <= 18]
            for row in await self._fetch(self.record_sql.format(key=key_expr, where=where), typed):
                found.setdefault((kind, row["k"]), []).append(row)
        return [build(found[key]) if key in found else None for key in keys]

    # -- linkage: the people table of this source ---------------------------------------------------

    people: PeopleTable

    async def find_candidates(
        self, queries: Sequence[Demographics], ask: Ask | None = None
    ) -> list[tuple[int, Demographics]]:
        """Records that share a blocking key with each query: (query index, record) pairs."""
        if not queries:
            return []
        rows = await self._fetch(candidate_sql(self.people), *query_batch(queries, self.placeholder_dobs).args)
        return [(row["i"], record_from_row(row, self.placeholder_dobs)) for row in rows]

    async def ties(
        self, keys: Sequence[SubjectKey], ask: Ask | None = None
    ) -> list[tuple[frozenset[str], frozenset[str]]]:
        """Per key: the councils its records here belong to, and the postcode districts they live in."""
        found: dict[SubjectKey, tuple[set[str], set[str]]] = {}
        for kind in ("id", "nino"):
            values: list[object] = list(dict.fromkeys(v for k, v in keys if k == kind))
            if not values:
                continue
            if kind == "id" and self.people.id_type == "bigint":
                values = [int(str(v)) for v in values if str(v).isascii() and str(v).isdigit() and len(str(v)) <= 18]
            for row in await self._fetch(ties_sql(self.people, kind), values):
                councils, districts = found.setdefault((kind, row["k"]), (set(), set()))
                # Only the records of the councils asked about: whether another council holds a record, and
                # where that record says the person lives, are that council's to say.
                owner = row["owner_council"]
                if owner is not None and ask is not None and ask.councils is not None and owner not in ask.councils:
                    continue
                if row["council_code"]:
                    councils.add(row["council_code"])
                parts = postcode_parts(normalise_postcode(row["postcode"]))
                if parts is not None:
                    districts.add(parts[2])
        return [(frozenset(found.get(k, ((), ()))[0]), frozenset(found.get(k, ((), ()))[1])) for k in keys]

    async def record_ids(self, nino: NormalisedNino, ask: Ask | None = None) -> list[str]:
        """The ids of this source's records that carry this NINO (as keyed here, spaces and case aside)."""
        people = self.people
        if people.nino_column is None:
            return []
        column = (
            f"t.{people.nino_column}" if people.nino_normalised else f"upper(replace(t.{people.nino_column}, ' ', ''))"
        )
        rows = await self._fetch(
            f"SELECT t.{people.id_column}::text AS id FROM {people.answering} t WHERE {column} = $1 ORDER BY 1",
            str(nino),
        )
        return [r["id"] for r in rows]

    async def scan(self, after: object, limit: int) -> list[Demographics]:
        """The next ``limit`` people records after id ``after`` (``people.first_cursor`` to start)."""
        rows = await self._fetch(scan_sql(self.people), after, limit)
        return [record_from_row(row, self.placeholder_dobs) for row in rows]

    async def feed(self, after: str | None, limit: int, ask: Ask | None = None) -> list[Demographics]:
        """This source's own records after record id ``after`` (None: from the first), in id order: the
        keyset feed a batch link run reads, a chunk at a time."""
        if after is None:
            cursor: object = self.people.first_cursor
        elif self.people.id_type == "bigint":
            cursor = int(after)
        else:
            cursor = after
        return await self.scan(cursor, limit)

    async def people_by_nino(self, ninos: Sequence[str], ask: Ask | None = None) -> list[Demographics]:
        """Records whose NINO, normalised, is one of ``ninos``."""
        nino = self.people.nino_column
        if nino is None:
            column = "NULL"
        elif self.people.nino_normalised:
            column = f"t.{nino}"
        else:  # as typed by a council: match the normalised form (an expression index serves it)
            column = f"upper(replace(t.{nino}, ' ', ''))"
        sql = f"SELECT {self.people.select_list()} FROM {self.people.table} t WHERE {column} = ANY($1::text[])"
        return [record_from_row(r, self.placeholder_dobs) for r in await self._fetch(sql, list(ninos))]

    async def sample(self, n: int) -> list[Demographics]:
        """A uniformly random sample of ``n`` records (model training)."""
        sql = f"SELECT {self.people.select_list()} FROM {self.people.table} t ORDER BY random() LIMIT $1"
        return [record_from_row(r, self.placeholder_dobs) for r in await self._fetch(sql, n)]

    async def count(self) -> int:
        rows = await self._fetch(f"SELECT count(*) AS n FROM {self.people.table}")
        return int(rows[0]["n"])

    async def by_record_ids(self, ids: Sequence[str]) -> list[Demographics]:
        sql = (  # Identifiers from PeopleTable (code, checked); values are bind parameters.
            f"SELECT {self.people.select_list()} FROM {self.people.table} t "
            f"WHERE t.{self.people.id_column} = ANY($1::{self.people.id_type}[])"
        )
        typed: list[object] = [int(i) for i in ids] if self.people.id_type == "bigint" else list(ids)
        return [record_from_row(row, self.placeholder_dobs) for row in await self._fetch(sql, typed)]
