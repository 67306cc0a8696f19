"""Bulk-load :class:`~hub.ops.synth.tables.SynthData` into the three source databases with COPY.

The only I/O of the synthetic data package. Table and schema names come from a fixed whitelist
(:data:`hub.ops.synth.tables.DATABASES`), never from the data, and are quoted as identifiers; the rows
travel in COPY's binary format, so no value is ever spliced into SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg

from hub.ops.synth.tables import COLUMNS, DATABASES, SynthData, Table

__all__ = ["load"]


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
    missing = sorted(set(DATABASES) - set(conns))
    unknown = sorted(set(conns) - set(DATABASES))
    if missing or unknown:
        raise ValueError(f"conns must be keyed by exactly {sorted(DATABASES)}; missing {missing}, unexpected {unknown}")
    if len({id(c) for c in conns.values()}) != len(conns):
        raise ValueError("each source database needs its own connection")
    for database, tables in data.databases.items():
        if database not in DATABASES or tuple(tables) != DATABASES[database]:
            raise ValueError(f"{database}: expected tables {list(DATABASES.get(database, ()))}, got {list(tables)}")

    transactions = [conns[db].transaction() for db in DATABASES]
    started = []
    try:
        for transaction in transactions:
            await transaction.start()
            started.append(transaction)
        # Every job runs to its end before anything commits or rolls back: a connection must not be
        # left mid-COPY while its transaction is being finished.
        results = await asyncio.gather(
            *(_copy_database(conns[db], db, data.databases[db], truncate) for db in DATABASES),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
    except BaseException:
        for transaction in started:
            await transaction.rollback()
        raise
    for transaction in transactions:
        await transaction.commit()
    if analyze:
        for db in DATABASES:
            for table in DATABASES[db]:
                await conns[db].execute("ANALYZE " + _qualified(table)[2])
    return {key: count for result in results if isinstance(result, dict) for key, count in result.items()}


async def _copy_database(
    conn: asyncpg.Connection, database: str, tables: Mapping[str, Table], truncate: bool
) -> dict[str, int]:
    names = DATABASES[database]
    if truncate:
        await conn.execute("TRUNCATE " + ", ".join(_qualified(t)[2] for t in names) + " CASCADE")
    counts: dict[str, int] = {}
    for table in names:  # parents before children, as listed
        schema, name, _ = _qualified(table)
        columns, rows = tables[table]
        if columns != COLUMNS[table]:
            raise ValueError(f"{database}.{table}: columns differ from the table's")
        status = await conn.copy_records_to_table(name, schema_name=schema, columns=columns, records=rows)
        counts[f"{database}.{table}"] = int(status.split()[-1])  # 'COPY 123': what the server took
    return counts
