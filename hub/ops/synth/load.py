"""Bulk-load :class:`~hub.ops.synth.tables.SynthData` into the three source databases with COPY.

Table and schema names come from a fixed whitelist (:data:`hub.ops.synth.tables.DATABASES`), never from
the data, and are quoted as identifiers; the rows travel in COPY's binary format, so no value is ever
spliced into SQL.

:func:`load` is the fast way in, for tests and benchmarks. ``welfare-hub seed`` goes through the import
instead (:mod:`hub.ops.synth.extracts`), with the same transactions (:func:`all_or_nothing`) and this
module's COPY for the ground truth, which is no system's records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from hub.ops.synth.tables import COLUMNS, DATABASES, SynthData, Table

__all__ = ["all_or_nothing", "analyze_databases", "check_conns", "copy_table", "load", "truncate_database"]

#: One database's part of a load: given its key and connection, rows loaded per ``database.schema.table``.
Job = Callable[[str, asyncpg.Connection], Awaitable[dict[str, int]]]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> tuple[str, str, str]:
    """``schema.table`` -> (schema, table, quoted SQL name), for whitelisted tables only."""
    if table not in COLUMNS:
        raise ValueError(f"{table!r} is not a synthetic-data table")
    schema, _, name = table.partition(".")
    return schema, name, f"{_quote_ident(schema)}.{_quote_ident(name)}"


async def load(
    conns: Mapping[str, asyncpg.Connection],
    data: SynthData,
    *,
    truncate: bool = True,
    analyze: bool = True,
) -> dict[str, int]:
    """COPY ``data`` into the source databases; return rows loaded per ``database.schema.table``.

    ``conns`` is keyed by database key (``src_dwp``, ``src_hb``, ``src_social_care``), one connection
    each, connected as a role that may write (and, with ``truncate``, truncate) that database's tables
    and ``synth_truth``. With ``truncate`` the tables are emptied first (``TRUNCATE ... CASCADE``).

    The three databases load concurrently, each in its own transaction, and commit only once all three
    COPYs have succeeded: a failure anywhere rolls all three back, so the sources never disagree about
    which population they hold. ``analyze`` then refreshes planner statistics, which are otherwise
    empty after a bulk load until autovacuum gets round to it, and the hub's first queries plan badly.
    """
    check_conns(conns, data)

    async def copy(database: str, conn: asyncpg.Connection) -> dict[str, int]:
        if truncate:
            await truncate_database(conn, database)
        counts: dict[str, int] = {}
        for table in DATABASES[database]:  # parents before children, as listed
            counts[f"{database}.{table}"] = await copy_table(conn, table, data.databases[database][table])
        return counts

    counts = await all_or_nothing(conns, copy, concurrently=True)
    if analyze:
        await analyze_databases(conns)
    return counts


def check_conns(conns: Mapping[str, asyncpg.Connection], data: SynthData) -> None:
    """A ValueError unless ``conns`` has one connection per source database and ``data`` their tables."""
    missing = sorted(set(DATABASES) - set(conns))
    unknown = sorted(set(conns) - set(DATABASES))
    if missing or unknown:
        raise ValueError(f"conns must be keyed by exactly {sorted(DATABASES)}; missing {missing}, unexpected {unknown}")
    if len({id(c) for c in conns.values()}) != len(conns):
        raise ValueError("each source database needs its own connection")
    for database, tables in data.databases.items():
        if database not in DATABASES or tuple(tables) != DATABASES[database]:
            raise ValueError(f"{database}: expected tables {list(DATABASES.get(database, ()))}, got {list(tables)}")


async def all_or_nothing(conns: Mapping[str, asyncpg.Connection], job: Job, *, concurrently: bool) -> dict[str, int]:
    """``job`` for each source database, each in a transaction of its own connection, committed only once
    every job has succeeded; any failure rolls all of them back and is raised. ``concurrently`` runs the
    jobs at once; otherwise one after another in :data:`DATABASES` order, stopping at the first failure."""
    transactions = [conns[db].transaction() for db in DATABASES]
    started = []
    results: list[dict[str, int] | BaseException] = []
    try:
        for transaction in transactions:
            await transaction.start()
            started.append(transaction)
        if concurrently:
            # Every job runs to its end before anything commits or rolls back: a connection must not be
            # left mid-COPY while its transaction is being finished.
            results = await asyncio.gather(*(job(db, conns[db]) for db in DATABASES), return_exceptions=True)
        else:
            results = [await job(db, conns[db]) for db in DATABASES]
        for result in results:
            if isinstance(result, BaseException):
                raise result
    except BaseException:
        for transaction in started:
            await transaction.rollback()
        raise
    for transaction in transactions:
        await transaction.commit()
    return {key: count for result in results if isinstance(result, dict) for key, count in result.items()}


async def truncate_database(conn: asyncpg.Connection, database: str) -> None:
    """Empty every table of ``database`` (:data:`DATABASES`), the truth too, and what refers to them."""
    await conn.execute("TRUNCATE " + ", ".join(_qualified(t)[2] for t in DATABASES[database]) + " CASCADE")


async def copy_table(conn: asyncpg.Connection, table: str, rows: Table) -> int:
    """COPY the rows of ``table`` (``schema.table``, of :data:`COLUMNS`); the rows the server took."""
    schema, name, _ = _qualified(table)
    if rows.columns != COLUMNS[table]:
        raise ValueError(f"{table}: columns differ from the table's")
    status = await conn.copy_records_to_table(name, schema_name=schema, columns=rows.columns, records=rows.rows)
    return int(status.split()[-1])  # 'COPY 123': what the server took


async def analyze_databases(conns: Mapping[str, asyncpg.Connection]) -> None:
    """Refresh the planner's statistics of every table of every source database."""
    for db in DATABASES:
        for table in DATABASES[db]:
            await conns[db].execute("ANALYZE " + _qualified(table)[2])
