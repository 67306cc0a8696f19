"""The synthetic population as its systems would export it, and ``welfare-hub seed``'s way in: the import.

:func:`write_extracts` writes, for each source table of :data:`~hub.ops.synth.tables.DATABASES` (the truth
aside), the CSV extract a system would export — a header line in its own words (``Claim ref``, ``Date of
birth``), dates as dd/mm/yyyy, yes/no as Y/N, an empty field for not known — and the mapping file
(docs/import.md) that loads it: ``hb.claim.csv`` and ``hb.claim.toml``. Everything is derived from
:data:`~hub.ops.synth.tables.COLUMNS`, so a column added there is in the extract and its mapping.

:func:`import_extracts` writes them and loads each with :func:`hub.ops.importing.import_file`, the code
``welfare-hub import`` runs (every row checked and converted, COPY, ``ON CONFLICT``), parents before children.
The truth (``synth_truth``) is no system's records, and the import refuses it: it goes in by COPY
(:func:`hub.ops.synth.load.copy_table`). Each source database is emptied and loaded in one transaction,
and the three commit only when every table arrived whole: a generated row the import rejects or changes is
a bug (in the generator or the import), raised as :class:`GeneratedRowRejected` with the report, and nothing
is committed — the sources keep what they held.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import decimal
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from hub.ops.importing import SOURCES, ImportReport, import_file, load_mapping, write_report
from hub.ops.synth.load import all_or_nothing, analyze_databases, check_conns, copy_table, truncate_database
from hub.ops.synth.tables import DATABASES, TRUTH_TABLE, SynthData, Table

__all__ = ["Extract", "GeneratedRowRejected", "import_extracts", "write_extracts"]

DATE_FORMAT = "%d/%m/%Y"  # as UK systems export dates
#: Words a header writes in capitals: "person_id" is headed "Person ID".
_ACRONYMS = {"id": "ID", "nino": "NINO", "nhs": "NHS", "dhp": "DHP", "pip": "PIP", "hb": "HB"}
#: Columns the generator writes as a person keyed them (spaces, lower case, typos: hub/ops/synth/keying.py),
#: which the linkage reads itself and the import would otherwise make canonical, or empty.
_AS_KEYED = frozenset({"nino"})
_SYSTEMS = {
    "dwp": "DWP's customer and award systems",
    "hb": "a council's Housing Benefit system",
    "social-care": "a council's social care system",
}


@dataclass(frozen=True)
class Extract:
    """One source table's extract and the mapping that loads it."""

    database: str  # src_hb
    table: str  # hb.claim
    source: str  # hb: the word ``welfare-hub import`` takes
    csv: Path
    mapping: Path

    @property
    def report(self) -> Path:
        """Where its import's report goes: beside the extract, as ``welfare-hub import`` puts it."""
        return self.csv.with_name(self.csv.name + ".report.csv")


class GeneratedRowRejected(RuntimeError):
    """A generated row that the import rejected or changed: a bug, and nothing was committed."""

    def __init__(self, extract: Extract, expected: int, report: ImportReport) -> None:
        self.extract = extract
        self.problems = tuple(report.problems)
        shown = "; ".join(
            f"line {p.line}{', ' + p.column if p.column else ''}: {p.outcome}, {p.reason}" for p in self.problems[:5]
        )
        more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        super().__init__(
            f"{extract.table}: the import loaded {report.loaded} of the {expected} rows generated "
            f"({report.rejected} rejected, {report.repaired} repaired), a bug in the generator or the import: "
            f"{shown or 'no row was rejected or repaired, yet not every one was loaded'}{more}. "
            f"Every problem is in {extract.report}, beside the extract and its mapping (kept). Nothing was "
            "committed: the sources hold what they held before."
        )


def write_extracts(data: SynthData, directory: Path) -> dict[str, Extract]:
    """Each source table's CSV extract and mapping in ``directory`` (made if need be), keyed ``schema.table``;
    a report left there by an earlier seed is removed."""
    directory.mkdir(parents=True, exist_ok=True)
    words: dict[str, str] = {store: word for word, (store, _) in SOURCES.items()}
    out: dict[str, Extract] = {}
    for database, tables in DATABASES.items():
        for table in tables:
            if table == TRUTH_TABLE:
                continue
            schema = table.partition(".")[0]
            source = words[database]  # a KeyError: a source database the import does not know
            if SOURCES[source][1] != schema:
                raise ValueError(f"{table} is not in {source}'s schema {SOURCES[source][1]!r}")
            extract = Extract(database, table, source, directory / f"{table}.csv", directory / f"{table}.toml")
            formats = _write_csv(extract, data.databases[database][table])
            extract.mapping.write_text(_mapping(extract, formats, data, tables), encoding="utf-8")
            extract.report.unlink(missing_ok=True)
            out[table] = extract
    return out


def _write_csv(extract: Extract, rows: Table) -> list[str | None]:
    """The extract, headed in the system's words; what each column is (date, bool, ...), for its mapping."""
    kinds = []
    for i, column in enumerate(rows.columns):
        kind = _kind(extract.table, column, {type(r[i]) for r in rows.rows} - {type(None)})
        if kind == "text" and any(r[i] == "" for r in rows.rows):
            raise ValueError(f"{extract.table}.{column}: an empty string, which a CSV cannot tell from no value")
        kinds.append(kind)
    cells = [_FORMATS[k] for k in kinds]
    with extract.csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([_header(c) for c in rows.columns])
        writer.writerows([f(v) if v is not None else "" for f, v in zip(cells, row, strict=True)] for row in rows.rows)
    return kinds


def _kind(table: str, column: str, types: set[type]) -> str | None:
    if not types:
        return None  # no value at all: an empty field in every row
    if len(types) == 1:
        [kind] = types
        for name, cls in (
            ("bool", bool),
            ("date", dt.date),
            ("text", str),
            ("number", int),
            ("number", decimal.Decimal),
        ):
            if kind is cls:
                return name
    raise TypeError(f"{table}.{column}: values of {sorted(t.__name__ for t in types)}, which an extract cannot hold")


def _date(value: dt.date) -> str:
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"  # DATE_FORMAT, for any year


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"


#: How a value of each kind is written (None, a value never set, is written as nothing).
_FORMATS: Mapping[str | None, Callable[[Any], str]] = {
    None: str,
    "text": str,
    "bool": _yes_no,
    "date": _date,
    "number": str,
}


def _header(column: str) -> str:
    words = [_ACRONYMS.get(w, w) for w in column.split("_")]
    return " ".join([words[0] if words[0].isupper() else words[0].capitalize(), *words[1:]])


def _mapping(extract: Extract, kinds: Sequence[str | None], data: SynthData, tables: Sequence[str]) -> str:
    quote = json.dumps  # a JSON string is a TOML basic string
    columns = data.databases[extract.database][extract.table].columns
    order = ", ".join(t for t in tables if t != TRUTH_TABLE)
    lines = [
        f"# {extract.table} as {_SYSTEMS.get(extract.source, extract.source)} would export it: {extract.csv.name},",
        f"# written by `welfare-hub seed` ({data.params.people} synthetic people, seed {data.params.seed}).",
        "# Load it into a store yourself (docs/import.md), after the tables it refers to",
        f"# ({extract.database} loads {order}, in that order):",
        f"#   welfare-hub import {extract.source} {extract.csv.name} --mapping {extract.mapping.name}",
        f"table = {quote(extract.table.partition('.')[2])}",
        "",
        "[csv]",
        'delimiter = ","',
        'encoding = "utf-8"',
        "",
        "[columns]  # table column = the extract's header",
    ]
    for column, kind in zip(columns, kinds, strict=True):
        header = quote(_header(column))
        if kind == "date":
            lines.append(f"{column} = {{ header = {header}, format = {quote(DATE_FORMAT)} }}")
        elif column in _AS_KEYED:
            lines.append("# As the system holds it, spaces, case and typos too (the hub's linkage reads them): without")
            lines.append("# as_written the import writes a NINO canonically, and leaves one that is not a NINO empty.")
            lines.append(f"{column} = {{ header = {header}, as_written = true }}")
        elif kind == "bool":
            lines.append(f"{column} = {header}  # Y or N")
        else:
            lines.append(f"{column} = {header}")
    return "\n".join(lines) + "\n"


async def import_extracts(
    conns: Mapping[str, asyncpg.Connection],
    data: SynthData,
    directory: Path | None = None,
    *,
    batch: int = 5000,
    progress: bool = False,
    analyze: bool = True,
) -> dict[str, int]:
    """Replace the sources' contents with ``data`` through the import; rows loaded per
    ``database.schema.table``, as :func:`hub.ops.synth.load.load` counts them.

    ``conns`` as for :func:`~hub.ops.synth.load.load`. The extracts and mappings are written to
    ``directory`` and kept, or to a temporary directory removed afterwards — kept, with the report, when a
    row is rejected (:class:`GeneratedRowRejected`). ``progress``: a bar per table, on a terminal.
    """
    check_conns(conns, data)
    folder = directory if directory is not None else Path(tempfile.mkdtemp(prefix="welfare-hub-seed-"))
    keep = directory is not None
    try:
        extracts = await asyncio.to_thread(write_extracts, data, folder)

        async def replace(database: str, conn: asyncpg.Connection) -> dict[str, int]:
            await truncate_database(conn, database)
            counts: dict[str, int] = {}
            for table in DATABASES[database]:  # parents before children
                rows = data.databases[database][table]
                if table == TRUTH_TABLE:
                    counts[f"{database}.{table}"] = await copy_table(conn, table, rows)
                    continue
                extract = extracts[table]
                mapping = load_mapping(extract.mapping)
                report = await import_file(conn, extract.source, extract.csv, mapping, batch=batch, progress=progress)
                if report.problems or report.loaded != len(rows.rows):
                    write_report(extract.report, report.problems)
                    raise GeneratedRowRejected(extract, len(rows.rows), report)
                counts[f"{database}.{table}"] = report.loaded
            return counts

        # One database after another: a bar at a time, and the first bad table stops the seed.
        counts = await all_or_nothing(conns, replace, concurrently=False)
    except GeneratedRowRejected:
        keep = True
        raise
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if analyze:
        await analyze_databases(conns)
    return counts
