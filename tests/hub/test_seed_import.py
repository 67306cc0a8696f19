"""``welfare-hub seed`` goes through the import (issue 17, item 2): the synthetic population is written as
the CSV extracts and mappings its systems would have, and loaded by ``welfare-hub import``'s own code. The
rows it leaves are exactly those COPY leaves; a second seed replaces; the extracts it keeps load with the
real command into a fresh store; and a generated row the import rejects or changes fails the seed, naming
table, line and reason, with nothing committed. Its own stores, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.demo import seed_sources
from hub.ops.importing import SOURCES, Mapping, import_file, load_mapping
from hub.ops.migrate import drop_stores, migrate
from hub.ops.synth import (
    COLUMNS,
    DATABASES,
    TRUTH_TABLE,
    GeneratedRowRejected,
    SynthData,
    SynthParams,
    Table,
    generate,
    import_extracts,
    load,
)
from hub.types import SOURCE_STORES
from linkage import check_nino

Contents = dict[str, Counter[tuple[Any, ...]]]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    s = dataclasses.replace(settings, db_prefix=f"s{uuid.uuid4().hex[:10]}_")
    await migrate(s)
    try:
        yield s
    finally:
        await drop_stores(s)


@pytest.fixture
async def conns(own: Settings) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    out = {store: await asyncpg.connect(own.admin_url(store)) for store in SOURCE_STORES}
    try:
        yield out
    finally:
        for conn in out.values():
            await conn.close()


@pytest.fixture(scope="module")
def data() -> SynthData:
    return generate(SynthParams(people=3000, seed=20261207))


async def contents(conns: dict[str, asyncpg.Connection], *, generated: bool = False) -> Contents:
    """Every row of every table of the three sources, the truth too: whole, or (``generated``) the columns
    the generator writes (:data:`COLUMNS`), to compare with what it generated."""
    out: Contents = {}
    for database, tables in DATABASES.items():
        for table in tables:
            schema, name = table.split(".")
            columns = ", ".join(f'"{c}"' for c in COLUMNS[table]) if generated else "*"
            # Identifiers from our own whitelist (DATABASES, COLUMNS), not from input.
            rows = await conns[database].fetch(f'SELECT {columns} FROM "{schema}"."{name}"')
            out[f"{database}.{table}"] = Counter(tuple(r) for r in rows)
    return out


def env_for(settings: Settings, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    assert settings.database_url is not None
    return env | {"DATABASE_URL": settings.database_url, "WELFARE_HUB_DB_PREFIX": settings.db_prefix, "HOME": str(home)}


def welfare_hub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


async def test_the_import_leaves_exactly_the_rows_copy_leaves(
    conns: dict[str, asyncpg.Connection], data: SynthData
) -> None:
    imported = await import_extracts(conns, data)
    assert imported == data.row_counts()
    through_import = await contents(conns)
    assert await load(conns, data) == imported
    assert await contents(conns) == through_import
    # The councils' NINOs arrive as keyed (spaces, case, typos), not as the import would have made them.
    ninos = [row[COLUMNS["hb.claim"].index("nino")] for row in through_import["src_hb.hb.claim"]]
    assert any(n is not None and check_nino(n).nino != n for n in ninos)


async def test_a_second_seed_replaces_the_first(own: Settings, conns: dict[str, asyncpg.Connection]) -> None:
    first = await seed_sources(own, people=400, seed=1)
    second = await seed_sources(own, people=500, seed=2)
    expected = generate(SynthParams(people=500, seed=2))
    assert second == expected.row_counts() != first
    stored = await contents(conns, generated=True)
    for database, tables in expected.databases.items():
        for table, (_, rows) in tables.items():
            assert stored[f"{database}.{table}"] == Counter(rows), f"{database}.{table}"
    assert await seed_sources(own, people=500, seed=2) == second  # again: nothing twice
    assert await contents(conns, generated=True) == stored


async def test_the_truth_is_no_systems_records_and_the_import_refuses_it(
    conns: dict[str, asyncpg.Connection], tmp_path: Path
) -> None:
    extract = tmp_path / "truth.csv"
    extract.write_text("record_id,true_person_id,true_nino\nhb:HB1,1,AB123456C\n")
    columns = '[columns]\nrecord_id = "record_id"\ntrue_person_id = "true_person_id"\ntrue_nino = "true_nino"\n'
    mapping = tmp_path / "truth.toml"
    mapping.write_text(f'table = "{TRUTH_TABLE}"\n{columns}')
    with pytest.raises(ConfigError, match="`table` names one table of the source"):
        load_mapping(mapping)  # schema.table: an extract names a table of its own source's schema only
    name = TRUTH_TABLE.partition(".")[2]
    mapping.write_text(f'table = "{name}"\n{columns}')
    for source, (store, _) in SOURCES.items():
        with pytest.raises(ConfigError, match=f"has no table '{name}' to import into"):
            await import_file(conns[store], source, extract, load_mapping(mapping), progress=False)


async def test_the_kept_extracts_load_with_the_import_command_into_a_fresh_store(
    own: Settings, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "extracts"
    seed = ["seed", "--people", "300", "--seed", "5", "--extracts", str(folder), "--quiet"]
    seeded = await asyncio.to_thread(welfare_hub, *seed, env=env_for(own, tmp_path))
    assert seeded.returncode == 0, seeded.stderr
    assert f"the extracts and their mappings: {folder}" in seeded.stdout
    sources = [table for tables in DATABASES.values() for table in tables if table != TRUTH_TABLE]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.{ext}" for t in sources for ext in ("csv", "toml"))
    expected = generate(SynthParams(people=300, seed=5))

    fresh = dataclasses.replace(settings, db_prefix=f"f{uuid.uuid4().hex[:10]}_")
    words = {store: word for word, (store, _) in SOURCES.items()}
    try:
        for database, tables in DATABASES.items():
            for table in tables:  # parents before children
                if table == TRUTH_TABLE:
                    continue
                csv, mapping = folder / f"{table}.csv", folder / f"{table}.toml"
                assert mapping.read_text().startswith(f"# {table} as ")  # a mapping that says what it is
                command = ["import", words[database], str(csv), "--mapping", str(mapping), "--quiet", "--strict"]
                done = await asyncio.to_thread(welfare_hub, *command, env=env_for(fresh, tmp_path))
                assert done.returncode == 0, done.stderr
                summary = json.loads(done.stdout)
                rows = len(expected.tables[table].rows)
                assert (summary["read"], summary["loaded"], summary["repaired"], summary["rejected"]) == (
                    rows,
                    rows,
                    0,
                    0,
                )
        held, loaded = await store_contents(own), await store_contents(fresh)
    finally:
        await drop_stores(fresh)
    # What the command loaded from the kept extracts is what the seed holds, and what was generated.
    for table in sources:
        [key] = [f"{db}.{table}" for db, tables in DATABASES.items() if table in tables]
        assert loaded[key] == held[key] == Counter(expected.tables[table].rows), key


async def store_contents(settings: Settings) -> Contents:
    conns = {store: await asyncpg.connect(settings.admin_url(store)) for store in SOURCE_STORES}
    try:
        return await contents(conns, generated=True)
    finally:
        for conn in conns.values():
            await conn.close()


def corrupt(data: SynthData, table: str, index: int, column: str, value: object) -> SynthData:
    """``data`` with one value of one generated row changed."""
    [database] = [db for db, tables in data.databases.items() if table in tables]
    columns, rows = data.databases[database][table]
    changed = list(rows)
    row = list(changed[index])
    row[columns.index(column)] = value
    changed[index] = tuple(row)
    return dataclasses.replace(
        data,
        databases={
            **data.databases,
            database: {**data.databases[database], table: Table(columns, changed)},
        },
    )


@pytest.mark.parametrize(
    ("table", "column", "value", "says"),
    [
        # Which line of the extract (the header is line 1: row 7 from 0 is line 9), the column, and why.
        (
            "hb.non_dependant",
            "family_name",
            None,
            "line 9, family_name: rejected, empty, and family_name needs a value",
        ),
        ("hb.claim", "tenancy_type", "council", "line 9: rejected, refused by the database (claim_tenancy_type_check)"),
        ("dwp.person", "postcode", "sw1a1aa", "line 9, postcode: repaired, written in the canonical form"),
    ],
)
async def test_a_generated_row_the_import_rejects_or_changes_fails_the_seed_and_commits_nothing(
    own: Settings,
    conns: dict[str, asyncpg.Connection],
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    column: str,
    value: object,
    says: str,
) -> None:
    await seed_sources(own, people=300, seed=9)
    before = await contents(conns)
    real: Callable[[SynthParams], SynthData] = generate
    monkeypatch.setattr("hub.ops.synth.generate", lambda params: corrupt(real(params), table, 7, column, value))
    with pytest.raises(GeneratedRowRejected) as failed:
        await seed_sources(own, people=400, seed=10)
    message = str(failed.value)
    report = failed.value.extract.report
    try:
        rows = len(generate(SynthParams(people=400, seed=10)).tables[table].rows)
        rejected = 1 if ": rejected, " in says else 0
        counts = f"loaded {rows - rejected} of the {rows} rows generated ({rejected} rejected, {1 - rejected} repaired)"
        assert message.startswith(f"{table}: the import {counts}, a bug in the generator or the import: ")
        assert says in message
        assert str(report) in message
        assert "Nothing was committed" in message
        lines = report.read_text().splitlines()
        assert lines[0] == "line,outcome,column,reason"
        assert any(line.startswith("9,") for line in lines[1:])
        assert failed.value.extract.csv.exists()  # kept, to look at
        assert failed.value.extract.mapping.exists()
    finally:
        shutil.rmtree(report.parent)
    # Nothing committed: every source, the ones imported before the bad table too, holds what it held.
    assert await contents(conns) == before


async def test_a_mapping_written_for_the_seed_is_one_the_import_reads(data: SynthData, tmp_path: Path) -> None:
    from hub.ops.synth import write_extracts

    extracts = write_extracts(data, tmp_path)
    assert set(extracts) == {t for tables in DATABASES.values() for t in tables} - {TRUTH_TABLE}
    for table, extract in extracts.items():
        mapping: Mapping = load_mapping(extract.mapping)
        assert [m.column for m in mapping.columns] == list(COLUMNS[table])  # every column, in order
        header = extract.csv.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == [m.header for m in mapping.columns]
    claim = {m.column: m for m in load_mapping(extracts["hb.claim"].mapping).columns}
    assert claim["date_of_birth"].format == "%d/%m/%Y"
    assert claim["nino"].as_written
    assert claim["claim_ref"].header == "Claim ref"


async def test_the_seed_command_says_which_row_failed_and_exits_1(own: Settings, tmp_path: Path) -> None:
    # The real command in its own process, its generator made to write one bad row.
    script = (
        "import sys; import hub.ops.synth as synth; from tests.hub.test_seed_import import corrupt; "
        "real = synth.generate; "
        "synth.generate = lambda params: corrupt(real(params), 'hb.claim', 7, 'tenancy_type', 'council'); "
        "from hub.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    folder = tmp_path / "extracts"
    command = [sys.executable, "-c", script, "seed", "--people", "300", "--extracts", str(folder), "--quiet"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env_for(own, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("welfare-hub seed: hb.claim: the import loaded ")
    assert "line 9: rejected, refused by the database (claim_tenancy_type_check)" in done.stderr
    assert f"Every problem is in {folder / 'hb.claim.csv.report.csv'}" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
