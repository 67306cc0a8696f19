"""A source's own extract into its store: ``welfare-hub import dwp|hb|social-care FILE --mapping MAP``.

The only way in for real records before this was the synthetic seeder. A council exports a CSV from its
system; a mapping file (TOML) says which of its columns fills which column of one of the source's tables::

    table = "claim"                      # a table of the source's schema (hb.claim)
    [csv]
    delimiter = ","                      # the default; encoding "utf-8-sig" (a BOM is dropped) by default
    [columns]
    claim_ref = "Claim Ref"              # table column = the CSV's header
    council_code = { value = "E09000901" }   # the same for every row
    date_of_birth = { header = "DOB", format = "%d/%m/%Y", missing = ["01/01/1900"] }
    nino = { header = "NI Number", as_written = true }   # not trimmed, not made canonical

The table's own columns, types and constraints are read from the database, so a mapping is checked before
a row is read (every required column mapped, every header present), and every row before it is loaded:

- a value that cannot be its column's type, or a required one that is empty, **rejects** the row;
- a value made canonical (a NINO's spacing and case, a postcode's), a placeholder date (``missing``) or an
  invalid NINO left empty where the column may be empty, **repairs** it;
- a row the database refuses (a CHECK, a foreign key, a second record with a unique value) is found in its
  batch and rejected alone, naming the constraint.

Every rejected or repaired row goes to the report (a CSV: line, outcome, column, reason), never its values:
an extract holds NINOs and names, and a report is passed around. Rows are loaded in batches by COPY into a
staging table and one ``INSERT ... ON CONFLICT (primary key) DO NOTHING``: a re-run loads nothing twice (a
row whose key is already there is counted, not loaded), and a key repeated within the file is rejected
after its first line.

:func:`import_stream` is the import; :func:`import_file` opens a file for it. ``welfare-hub seed`` imports
its synthetic extracts through the same function (:mod:`hub.ops.synth.extracts`).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
import io
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
from tqdm import tqdm

from hub.errors import ConfigError
from hub.types import StoreName
from linkage import check_nino
from linkage.normalise import normalise_postcode

__all__ = [
    "SOURCES",
    "ColumnMap",
    "ImportReport",
    "Mapping",
    "Problem",
    "Table",
    "describe",
    "import_file",
    "import_stream",
    "load_mapping",
    "write_report",
]

#: The sources an extract may be loaded into: the command's word -> (store, schema).
SOURCES: dict[str, tuple[StoreName, str]] = {
    "dwp": ("src_dwp", "dwp"),
    "hb": ("src_hb", "hb"),
    "social-care": ("src_social_care", "social_care"),
}
#: The tables an extract may not write: the stores' own machinery, not a system's records.
_NOT_RECORDS = frozenset({"hub_inbox", "access_log"})
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_INTEGERS = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_MAX_FIELD = 10_000  # characters: a longer value is not a record's field (and csv's own limit is 128 KiB)


@dataclass(frozen=True)
class ColumnMap:
    """How one table column is filled: from a CSV header, or a constant ``value``; dates by ``format``
    (ISO 8601 when none), with ``missing`` the system's placeholders for "not known". A text column
    ``as_written`` takes the value exactly as the file has it: not trimmed, not made canonical (a NINO's
    spacing and case, a postcode's) and not checked as a NINO or a postcode; empty is still empty."""

    column: str
    header: str | None = None
    value: str | None = None
    format: str | None = None
    missing: frozenset[str] = frozenset()
    as_written: bool = False


@dataclass(frozen=True)
class Mapping:
    table: str
    columns: tuple[ColumnMap, ...]
    delimiter: str = ","
    encoding: str = "utf-8-sig"


def load_mapping(path: Path) -> Mapping:
    """The mapping file, checked for shape (what it names is checked against the table by :func:`describe`)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"mapping {path}: cannot be read as TOML ({e})"]) from None
    problems: list[str] = []
    table = doc.get("table")
    if not isinstance(table, str) or not table.isidentifier():
        problems.append('`table` names one table of the source, e.g. table = "claim"')
    options = doc.get("csv", {})
    if not isinstance(options, dict) or set(options) - {"delimiter", "encoding"}:
        problems.append("[csv] takes `delimiter` and `encoding` only")
        options = {}
    delimiter, encoding = options.get("delimiter", ","), options.get("encoding", "utf-8-sig")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        problems.append("[csv] delimiter is one character")
    if not isinstance(encoding, str) or not _known_encoding(encoding):
        problems.append("[csv] encoding is a name Python knows, e.g. utf-8 or cp1252")
    columns = doc.get("columns")
    maps: list[ColumnMap] = []
    if not isinstance(columns, dict) or not columns:
        problems.append('[columns] maps each table column to a CSV header, e.g. claim_ref = "Claim Ref"')
        columns = {}
    for column, spec in columns.items():
        if isinstance(spec, str):
            maps.append(ColumnMap(column, header=spec))
            continue
        if not isinstance(spec, dict) or set(spec) - {"header", "value", "format", "missing", "as_written"}:
            problems.append(f"[columns] {column}: a header, or a table of header/value/format/missing/as_written")
            continue
        header, value, fmt, missing = spec.get("header"), spec.get("value"), spec.get("format"), spec.get("missing", [])
        as_written = spec.get("as_written", False)
        if (header is None) == (value is None) or not isinstance(header or value, str):
            problems.append(f"[columns] {column}: exactly one of `header` or `value`, a string")
            continue
        if fmt is not None and not isinstance(fmt, str):
            problems.append(f'[columns] {column}: `format` is a strptime format, e.g. "%d/%m/%Y"')
            continue
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            problems.append(f'[columns] {column}: `missing` is a list of the values that mean "not known"')
            continue
        if not isinstance(as_written, bool):
            problems.append(f"[columns] {column}: `as_written` is true or false")
            continue
        maps.append(
            ColumnMap(column, header=header, value=value, format=fmt, missing=frozenset(missing), as_written=as_written)
        )
    if set(doc) - {"table", "csv", "columns"}:
        problems.append(f"unknown keys: {sorted(set(doc) - {'table', 'csv', 'columns'})}")
    if problems:
        raise ConfigError([f"mapping {path}: {p}" for p in problems])
    assert isinstance(table, str)
    return Mapping(table, tuple(maps), delimiter, encoding)


def _known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # pg_type.typname: text, date, numeric, int4, bool, ...
    required: bool  # NOT NULL and no default


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, Column]
    key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'


_COLUMNS = """
SELECT a.attname AS name, t.typname AS type, a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AS required
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""
_KEY = """
SELECT a.attname FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
 WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary
 ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
_TEXT = frozenset({"text", "varchar", "bpchar"})
_CONVERTIBLE = frozenset({*_TEXT, "date", "numeric", "bool", "float4", "float8", *_INTEGERS})


async def describe(conn: asyncpg.Connection, schema: str, mapping: Mapping) -> Table:
    """The mapping's table as the database has it; a ConfigError naming every problem with the mapping."""
    rows = await conn.fetch(_COLUMNS, schema, mapping.table)
    if not rows or mapping.table in _NOT_RECORDS:
        tables = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
            schema,
        )
        names = [t["relname"] for t in tables if t["relname"] not in _NOT_RECORDS]
        raise ConfigError([f"{schema} has no table {mapping.table!r} to import into; its tables: {names}"])
    columns = {r["name"]: Column(r["name"], r["type"], r["required"]) for r in rows}
    key = tuple(r["attname"] for r in await conn.fetch(_KEY, schema, mapping.table))
    problems = []
    mapped = {m.column for m in mapping.columns}
    for m in mapping.columns:
        if m.column not in columns:
            problems.append(f"{schema}.{mapping.table} has no column {m.column!r}")
        elif columns[m.column].type not in _CONVERTIBLE:
            problems.append(f"{m.column} is a {columns[m.column].type}, which an import cannot fill")
        elif m.format is not None and columns[m.column].type != "date":
            problems.append(f"{m.column}: `format` is for dates, and it is a {columns[m.column].type}")
        elif m.as_written and columns[m.column].type not in _TEXT:
            problems.append(f"{m.column}: `as_written` is for text, and it is a {columns[m.column].type}")
    unmapped = [c.name for c in columns.values() if c.required and c.name not in mapped]
    if unmapped:
        problems.append(f"{schema}.{mapping.table} needs a value for {unmapped}: map them to headers or values")
    if not key:
        problems.append(f"{schema}.{mapping.table} has no primary key, so a re-run could load rows twice")
    elif set(key) - mapped:
        problems.append(f"the key {list(key)} must be mapped: it is how a re-run knows what it loaded")
    if problems:
        raise ConfigError(problems)
    return Table(schema, mapping.table, columns, key)


@dataclass(frozen=True)
class Problem:
    """One line of the report: what happened to a row and why, never the value."""

    line: int
    outcome: str  # rejected | repaired
    column: str
    reason: str


class _Rejected(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


Convert = Callable[[str, list[Problem], int], Any]


def _converter(column: Column, spec: ColumnMap) -> Convert:
    """The function that turns one CSV value into the column's, noting repairs and raising a rejection."""
    name = column.name

    def empty(line: int, problems: list[Problem], why: str) -> None:
        if column.required:
            raise _Rejected(name, f"{why}, and {name} needs a value")
        if why != "empty":
            problems.append(Problem(line, "repaired", name, f"{why}: left empty"))

    def convert(raw: str, problems: list[Problem], line: int) -> Any:
        value = raw if spec.as_written else raw.strip()
        if len(value) > _MAX_FIELD:
            raise _Rejected(name, f"longer than {_MAX_FIELD} characters")
        if not value:
            return empty(line, problems, "empty")
        if value in spec.missing:
            return empty(line, problems, "a placeholder for not known")
        if spec.as_written:
            return value
        try:
            return typed(value, problems, line)
        except (ValueError, ArithmeticError):
            raise _Rejected(name, f"not a {_described(column.type, spec)}") from None

    def typed(value: str, problems: list[Problem], line: int) -> Any:
        kind = column.type
        if name == "nino":
            check = check_nino(value)
            if check.nino is None:
                return empty(line, problems, f"not a valid National Insurance number ({check.reason})")
            if check.nino != value:
                problems.append(Problem(line, "repaired", name, "written in the canonical form"))
            return check.nino
        if name == "postcode":
            postcode = normalise_postcode(value)
            if postcode is None:
                return empty(line, problems, "not a UK postcode")
            if postcode != value:
                problems.append(Problem(line, "repaired", name, "written in the canonical form"))
            return postcode
        if kind == "date":
            if spec.format is None:
                return dt.date.fromisoformat(value)
            return dt.datetime.strptime(value, spec.format).date()
        if kind in _INTEGERS:
            number = int(value)
            if not -_INTEGERS[kind] <= number < _INTEGERS[kind]:
                raise ValueError(value)
            return number
        if kind == "numeric":
            amount = decimal.Decimal(value)
            if not amount.is_finite():
                raise ValueError(value)
            return amount
        if kind in ("float4", "float8"):
            return float(value)
        if kind == "bool":
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        return value

    return convert


def _described(kind: str, spec: ColumnMap) -> str:
    if kind == "date":
        return f"date in the form {spec.format}" if spec.format else "date (YYYY-MM-DD)"
    return {
        "numeric": "number",
        "float4": "number",
        "float8": "number",
        "bool": "yes/no value",
        **dict.fromkeys(_INTEGERS, "whole number in range"),
    }.get(kind, kind)


@dataclass
class ImportReport:
    table: str
    read: int = 0
    loaded: int = 0
    already_loaded: int = 0
    repaired: int = 0
    rejected: int = 0
    report: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "read": self.read,
            "loaded": self.loaded,
            "already_loaded": self.already_loaded,
            "repaired": self.repaired,
            "rejected": self.rejected,
            "report": self.report,
        }


def _rows(handle: IO[str], mapping: Mapping, table: Table) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line, values in the mapping's order, or None with why the line is unreadable)."""
    reader = csv.reader(handle, delimiter=mapping.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ConfigError(["the file is empty: it has no header line"]) from None
    positions = {h.strip(): i for i, h in enumerate(header)}
    absent = [m.header for m in mapping.columns if m.header is not None and m.header not in positions]
    if absent:
        raise ConfigError([f"the file's header has no {absent}; it has {list(positions)}"])
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield reader.line_num, None, f"not readable as CSV ({e})"
            continue
        if not record or record == [""]:
            continue
        if len(record) != len(header):
            yield reader.line_num, None, f"{len(record)} fields where the header has {len(header)}"
            continue
        yield (
            reader.line_num,
            [m.value if m.value is not None else record[positions[m.header or ""]] for m in mapping.columns],
            None,
        )


_STAGE = "import_stage"  # a temporary table of the session: COPY's destination, emptied after each batch


async def import_file(
    conn: asyncpg.Connection,
    source: str,
    path: Path,
    mapping: Mapping,
    *,
    batch: int = 5000,
    progress: bool = True,
) -> ImportReport:
    """Load the file at ``path`` into the source's table as ``mapping`` says (:func:`import_stream`)."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise ConfigError([f"{path}: cannot be read ({e.strerror})"]) from None
    with raw:
        return await import_stream(conn, source, raw, mapping, name=str(path), batch=batch, progress=progress)


async def import_stream(
    conn: asyncpg.Connection,
    source: str,
    stream: IO[bytes],
    mapping: Mapping,
    *,
    name: str = "the extract",
    batch: int = 5000,
    progress: bool = True,
) -> ImportReport:
    """Load the CSV read from ``stream`` (bytes, decoded as the mapping says; a file, or one in memory) into
    the source's table as ``mapping`` says; what was loaded, repaired and rejected. ``name`` is how errors
    name the stream. The caller's stream is read from where it stands, and left open.

    Each batch is its own transaction, or a savepoint of the caller's: inside a transaction of the caller's,
    nothing is committed until the caller commits (``welfare-hub seed`` imports every table in one).
    """
    if source not in SOURCES:
        raise ConfigError([f"no source {source!r}: one of {sorted(SOURCES)}"])
    table = await describe(conn, SOURCES[source][1], mapping)
    columns = [m.column for m in mapping.columns]
    converters = [_converter(table.columns[m.column], m) for m in mapping.columns]
    key_at = [columns.index(k) for k in table.key]
    report = ImportReport(f"{table.schema}.{table.name}")
    seen: dict[tuple[Any, ...], int] = {}  # key -> the line that first had it
    pending: list[tuple[int, tuple[Any, ...]]] = []
    start, size = _extent(stream)
    # A staging table of this table's shape: one left by an import into another table on this connection
    # (the seeder imports every table of a source on one) would not take these columns.
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}")
    await conn.execute(f"CREATE TEMP TABLE {_STAGE} (LIKE {table.qualified} INCLUDING DEFAULTS)")
    # By bytes read (the buffer's position): the stream is read once, not counted through first. None (a bar
    # only when stderr is a terminal) unless told to be quiet.
    bar = tqdm(total=size, desc=f"import {report.table}", unit="B", unit_scale=True, disable=None if progress else True)
    handle = io.TextIOWrapper(stream, encoding=mapping.encoding, newline="", errors="strict")
    try:
        try:
            for line, values, unreadable in _rows(handle, mapping, table):
                report.read += 1
                if report.read % 1000 == 0 and size is not None:
                    bar.update(stream.tell() - start - bar.n)
                if values is None:
                    _reject(report, Problem(line, "rejected", "", unreadable or "unreadable"))
                    continue
                row = _converted(report, line, values, converters, columns)
                if row is None:
                    continue
                key = tuple(row[i] for i in key_at)
                if key in seen:
                    _reject(report, Problem(line, "rejected", ",".join(table.key), f"the same key as line {seen[key]}"))
                    continue
                seen[key] = line
                pending.append((line, row))
                if len(pending) >= batch:
                    await _load(conn, table, columns, pending, report)
                    pending = []
        except UnicodeDecodeError as e:
            raise ConfigError(
                [f"{name}: not {mapping.encoding} text at byte {e.start}; set [csv] encoding in the mapping"]
            ) from None
        if pending:
            await _load(conn, table, columns, pending, report)
        if size is not None:
            bar.update(size - bar.n)
    finally:
        handle.detach()  # the stream is the caller's to close
        bar.close()
    report.problems.sort(key=lambda p: p.line)
    return report


def _extent(stream: IO[bytes]) -> tuple[int, int | None]:
    """Where the stream stands, and how many bytes are left to read from there (None: not known)."""
    if not stream.seekable():
        return 0, None
    start = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(start)
    return start, end - start


def _reject(report: ImportReport, problem: Problem) -> None:
    report.rejected += 1
    report.problems.append(problem)


def _converted(
    report: ImportReport, line: int, values: Sequence[str], converters: Sequence[Convert], columns: Sequence[str]
) -> tuple[Any, ...] | None:
    problems: list[Problem] = []
    out = []
    try:
        for raw, convert in zip(values, converters, strict=True):
            out.append(convert(raw, problems, line))
    except _Rejected as e:
        _reject(report, Problem(line, "rejected", e.column, e.reason))
        return None
    if problems:
        report.repaired += 1
        report.problems.extend(problems)
    return tuple(out)


async def _load(
    conn: asyncpg.Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[int, tuple[Any, ...]]],
    report: ImportReport,
) -> None:
    """One batch: staged by COPY, inserted in one statement; if the database refuses any row of it, each
    row on its own (in a savepoint), the refused ones rejected by the constraint they break."""
    names = ", ".join(f'"{c}"' for c in columns)
    key = ", ".join(f'"{k}"' for k in table.key)
    insert = (
        f"INSERT INTO {table.qualified} ({names}) SELECT {names} FROM {_STAGE} "  # noqa: S608 (catalog names)
        f"ON CONFLICT ({key}) DO NOTHING"
    )
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(_STAGE, records=[r for _, r in rows], columns=list(columns))
            status = await conn.execute(insert)
            await conn.execute(f"TRUNCATE {_STAGE}")
        loaded = int(status.split()[-1])
        report.loaded += loaded
        report.already_loaded += len(rows) - loaded
        return
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
        pass  # some row of the batch is refused: find it
    one = (
        f"INSERT INTO {table.qualified} ({names}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING"
    )
    async with conn.transaction():
        for line, row in rows:
            try:
                async with conn.transaction():  # a savepoint: a refused row leaves the others
                    status = await conn.execute(one, *row)
            except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as e:
                # The constraint's name only: the database's message quotes the refused value.
                constraint = getattr(e, "constraint_name", None) or type(e).__name__
                column = getattr(e, "column_name", None) or ""
                _reject(report, Problem(line, "rejected", column, f"refused by the database ({constraint})"))
                continue
            if status.split()[-1] == "1":
                report.loaded += 1
            else:
                report.already_loaded += 1


def write_report(path: Path, problems: Iterable[Problem]) -> None:
    """The report as CSV: line, outcome, column, reason (never a value)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "outcome", "column", "reason"])
        for p in problems:
            writer.writerow([p.line, p.outcome, p.column, p.reason])
