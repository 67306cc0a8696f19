"""Loading a source's own CSV extract (issue 17, item 2): every row checked against the table the database
has, rejected and repaired rows reported by line and reason (never a value), COPY in batches, a re-run loading
nothing twice. Its own stores, on real PostgreSQL; the command through a real process."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.importing import Problem, import_file, import_stream, load_mapping
from hub.ops.migrate import drop_stores, migrate

HEADER = [
    "Claim Ref", "Council", "NI Number", "Forename", "Surname", "DOB", "Address", "Town", "Postcode", "Tenure",
    "Rent", "Award", "Bedrooms", "Carer Room", "Start",
]  # fmt: skip
GOOD = ["HB9001", "E09000901", "AB123456C", "Ann", "Smith", "03/04/1950", "1 High St", "Town", "SW1A 1AA",
        "social", "100.50", "80.00", "2", "yes", "2020-01-01"]  # fmt: skip
MAPPING = (Path(__file__).parents[2] / "docs" / "examples" / "hb-claim.toml").read_text()


def row(**changes: str) -> list[str]:
    out = dict(zip(HEADER, GOOD, strict=True))
    out.update({k.replace("_", " "): v for k, v in changes.items()})
    return [out[h] for h in HEADER]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    s = dataclasses.replace(settings, db_prefix=f"i{uuid.uuid4().hex[:10]}_")
    await migrate(s)
    try:
        yield s
    finally:
        await drop_stores(s)


@pytest.fixture
async def hb(own: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(own.admin_url("src_hb"))
    await conn.execute("TRUNCATE hb.claim CASCADE")
    try:
        yield conn
    finally:
        await conn.close()


def write_mapping(folder: Path, text: str, name: str = "hb.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def by_line(problems: list[Problem]) -> dict[int, list[tuple[str, str, str]]]:
    out: dict[int, list[tuple[str, str, str]]] = {}
    for p in problems:
        out.setdefault(p.line, []).append((p.outcome, p.column, p.reason))
    return out


async def test_each_row_is_loaded_repaired_or_rejected_with_its_line_and_reason(
    hb: asyncpg.Connection, tmp_path: Path
) -> None:
    mapping = tmp_path / "hb.toml"
    mapping.write_text(MAPPING)
    extract = write_csv(
        tmp_path / "claims.csv",
        [
            row(**{"NI Number": "ab 12 34 56 c", "Postcode": "sw1a1aa"}),  # line 2: loaded, written canonically
            row(**{"Claim Ref": "HB9002", "DOB": "31/02/1950"}),  # 3: no such date
            row(**{"Claim Ref": "HB9003", "Surname": " "}),  # 4: a required name missing
            row(**{"Claim Ref": "HB9004", "NI Number": "XX 99"}),  # 5: not a NINO, left empty (the column may be)
            row(**{"Claim Ref": "HB9005", "Tenure": "council"}),  # 6: the table's CHECK refuses it
            row(**{"Forename": "Bea"}),  # 7: the key of line 2 again
            row(**{"Claim Ref": "HB9007", "DOB": "01/01/1900"}),  # 8: the system's placeholder for no DOB
            ["HB9008", "E09000901", "too few"],  # 9
            row(**{"Claim Ref": "HB9009", "Bedrooms": "seven"}),  # 10
            row(**{"Claim Ref": "HB9010", "Rent": "NaN"}),  # 11
            row(**{"Claim Ref": "HB9011", "Carer Room": "maybe"}),  # 12
            row(**{"Claim Ref": "HB9012", "NI Number": "", "Postcode": "", "Carer Room": "N"}),  # 13: all fine
        ],
    )
    # Batches of three: the refused row (line 6) is found within its batch, the others of it still loaded.
    report = await import_file(hb, "hb", extract, load_mapping(mapping), batch=3, progress=False)
    dob_nullable = not await hb.fetchval(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'hb.claim'::regclass AND attname = 'date_of_birth'"
    )
    problems = by_line(report.problems)
    assert problems.pop(2) == [
        ("repaired", "nino", "written in the canonical form"),
        ("repaired", "postcode", "written in the canonical form"),
    ]
    assert problems.pop(3) == [("rejected", "date_of_birth", "not a date in the form %d/%m/%Y")]
    assert problems.pop(4) == [("rejected", "family_name", "empty, and family_name needs a value")]
    assert problems.pop(5) == [("repaired", "nino", "not a valid National Insurance number (BAD_FORMAT): left empty")]
    assert problems.pop(6) == [("rejected", "", "refused by the database (claim_tenancy_type_check)")]
    assert problems.pop(7) == [("rejected", "claim_ref", "the same key as line 2")]
    placeholder = problems.pop(8)
    if dob_nullable:  # placeholders are missing dates where the source's table can hold one
        assert placeholder == [("repaired", "date_of_birth", "a placeholder for not known: left empty")]
    else:
        assert placeholder == [
            ("rejected", "date_of_birth", "a placeholder for not known, and date_of_birth needs a value")
        ]
    assert problems.pop(9) == [("rejected", "", "3 fields where the header has 15")]
    assert problems.pop(10) == [("rejected", "bedroom_entitlement", "not a whole number in range")]
    assert problems.pop(11) == [("rejected", "weekly_rent", "not a number")]
    assert problems.pop(12) == [("rejected", "overnight_carer_room", "not a yes/no value")]
    assert problems == {}  # line 13 is loaded as it is
    loaded = {r["claim_ref"]: r for r in await hb.fetch("SELECT * FROM hb.claim")}
    expected = {"HB9001", "HB9004", "HB9012"} | ({"HB9007"} if dob_nullable else set())
    assert set(loaded) == expected
    assert (report.read, report.loaded, report.already_loaded) == (12, len(expected), 0)
    assert report.rejected == 12 - len(expected)
    first = loaded["HB9001"]
    assert (first["nino"], first["postcode"], first["given_name"]) == ("AB123456C", "SW1A 1AA", "Ann")
    assert str(first["weekly_rent"]) == "100.50"
    assert first["overnight_carer_room"] is True
    assert loaded["HB9004"]["nino"] is None
    assert loaded["HB9012"]["overnight_carer_room"] is False
    assert loaded["HB9012"]["postcode"] is None

    again = await import_file(hb, "hb", extract, load_mapping(mapping), batch=3, progress=False)
    assert (again.loaded, again.already_loaded, again.rejected) == (0, len(expected), report.rejected)
    assert await hb.fetchval("SELECT count(*) FROM hb.claim") == len(expected)


async def test_a_row_the_database_refuses_is_rejected_by_name_of_constraint_never_by_value(
    own: Settings, tmp_path: Path
) -> None:
    # A CHECK's own message quotes the whole failing row ("Failing row contains (2, JK654321A, Bob, ...)").
    # (DWP's spine takes two records under one NINO since src_dwp 0007, so a NINO's UNIQUE is not the case.)
    conn = await asyncpg.connect(own.admin_url("src_dwp"))
    try:
        await conn.execute("TRUNCATE dwp.person CASCADE")
        mapping = tmp_path / "dwp.toml"
        mapping.write_text(
            'table = "person"\n[columns]\nperson_id = "id"\nnino = "nino"\ngiven_name = "first"\n'
            'family_name = "last"\ndate_of_birth = "dob"\nsex = "sex"\n'
        )
        extract = write_csv(
            tmp_path / "spine.csv",
            [
                ["1", "JK123456A", "Ann", "Smith", "1950-04-03", "F"],
                ["2", "JK654321A", "Bob", "Jones", "1960-01-01", "X"],
            ],
            header=["id", "nino", "first", "last", "dob", "sex"],
        )
        report = await import_file(conn, "dwp", extract, load_mapping(mapping), progress=False)
    finally:
        await conn.close()
    assert (report.loaded, report.rejected) == (1, 1)
    [problem] = report.problems
    assert problem.line == 3
    assert problem.outcome == "rejected"
    assert problem.reason.startswith("refused by the database (")
    assert problem.reason == "refused by the database (person_sex_check)"
    assert "JK654321A" not in problem.reason
    assert "Bob" not in problem.reason


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ('table = "benefit"\n[columns]\nx = "x"', "hb has no table 'benefit' to import into; its tables: ["),
        ('table = "hub_inbox"\n[columns]\nx = "x"', "hb has no table 'hub_inbox'"),
        ('table = "claim"\n[columns]\nclaim_ref = "Claim Ref"', "hb.claim needs a value for ['council_code'"),
        (MAPPING.replace('claim_ref = "Claim Ref"', 'claim_ref = "Ref"'), "the file's header has no ['Ref']"),
        (MAPPING + 'colour = "Council"\n', "hb.claim has no column 'colour'"),
        (MAPPING.replace('town = "Town"', 'town = { header = "Town", format = "%Y" }'), "town: `format` is for dates"),
        (MAPPING.replace('town = "Town"', "town = { value = 3 }"), "town: exactly one of `header` or `value`"),
        ("table = [", "cannot be read as TOML"),
        (MAPPING + '[csv]\nencoding = "klingon"\n', "[csv] encoding is a name Python knows"),
    ],
)
async def test_a_mapping_that_does_not_fit_the_table_or_the_file_is_refused_before_any_row(
    hb: asyncpg.Connection, tmp_path: Path, mapping: str, says: str
) -> None:
    path = tmp_path / "map.toml"
    path.write_text(mapping)
    extract = write_csv(tmp_path / "claims.csv", [row()])
    with pytest.raises(ConfigError) as refused:
        await import_file(hb, "hb", extract, load_mapping(path), progress=False)
    assert says in str(refused.value)
    assert await hb.fetchval("SELECT count(*) FROM hb.claim") == 0


def test_the_command_loads_reports_and_says_so(own: Settings, tmp_path: Path) -> None:
    mapping = tmp_path / "hb.toml"
    mapping.write_text(MAPPING)
    extract = write_csv(
        tmp_path / "claims.csv",
        [
            row(**{"Claim Ref": "HB7001", "NI Number": "ab 12 34 56 c", "Postcode": "sw1a1aa"}),
            row(**{"Claim Ref": "HB7002", "Rent": "x"}),
        ],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    assert own.database_url is not None
    env |= {"DATABASE_URL": own.database_url, "WELFARE_HUB_DB_PREFIX": own.db_prefix, "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "hub", "import", "hb", str(extract), "--mapping", str(mapping), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {k: summary[k] for k in ("table", "read", "loaded", "rejected")} == {
        "table": "hb.claim",
        "read": 2,
        "loaded": 1,
        "rejected": 1,
    }
    report = Path(summary["report"])
    assert report == extract.with_name("claims.csv.report.csv")
    with report.open() as f:
        lines = list(csv.reader(f))
    assert lines == [
        ["line", "outcome", "column", "reason"],
        ["2", "repaired", "nino", "written in the canonical form"],
        ["2", "repaired", "postcode", "written in the canonical form"],
        ["3", "rejected", "weekly_rent", "not a number"],
    ]
    text = report.read_text()
    for value in ("AB123456C", "ab 12 34 56 c", "Smith", "Ann", "1950"):
        assert value not in text  # the report names columns and reasons, never a value
    assert "1 rows rejected" in done.stderr
    strict = subprocess.run([*command, "--strict"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["already_loaded"] == 1  # the re-run loaded nothing twice


async def test_a_stream_in_memory_is_imported_by_the_same_code_as_a_file(
    hb: asyncpg.Connection, tmp_path: Path
) -> None:
    mapping = load_mapping(write_mapping(tmp_path, MAPPING))
    extract = write_csv(tmp_path / "claims.csv", [row(), row(**{"Claim Ref": "HB9002", "Rent": "x"})])
    stream = io.BytesIO(b"ignored: the stream is read from where it stands\n" + extract.read_bytes())
    stream.readline()
    from_memory = await import_stream(hb, "hb", stream, mapping, name="claims in memory", progress=False)
    assert not stream.closed  # the caller's to close
    await hb.execute("TRUNCATE hb.claim CASCADE")
    from_file = await import_file(hb, "hb", extract, mapping, progress=False)
    assert from_memory == from_file
    assert (from_file.loaded, from_file.rejected) == (1, 1)
    with pytest.raises(ConfigError, match="claims in memory: not utf-8-sig text at byte"):
        await import_stream(hb, "hb", io.BytesIO(b"Claim Ref\n\xff\xfe\n"), mapping, name="claims in memory")


async def test_a_column_as_written_is_loaded_exactly_as_the_file_has_it(hb: asyncpg.Connection, tmp_path: Path) -> None:
    as_written = MAPPING.replace('nino = "NI Number"', 'nino = { header = "NI Number", as_written = true }')
    extract = write_csv(
        tmp_path / "claims.csv",
        [
            row(**{"NI Number": " ab 12 34 56 c "}),
            row(**{"Claim Ref": "HB9002", "NI Number": "XX 99"}),  # not a NINO: kept, as the system holds it
            row(**{"Claim Ref": "HB9003", "NI Number": ""}),  # empty is still no value
        ],
    )
    report = await import_file(hb, "hb", extract, load_mapping(write_mapping(tmp_path, as_written)), progress=False)
    assert (report.loaded, report.repaired, report.rejected, report.problems) == (3, 0, 0, [])
    held = dict(await hb.fetch("SELECT claim_ref, nino FROM hb.claim"))
    assert held == {"HB9001": " ab 12 34 56 c ", "HB9002": "XX 99", "HB9003": None}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("Bedrooms", '{ header = "Bedrooms", as_written = true }'), "bedroom_entitlement: `as_written` is for text"),
        (("Town", '{ header = "Town", as_written = "yes" }'), "town: `as_written` is true or false"),
    ],
)
async def test_as_written_is_for_text_and_is_true_or_false(
    hb: asyncpg.Connection, tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    header, spec = change
    mapping = write_mapping(tmp_path, MAPPING.replace(f'"{header}"', spec, 1))
    extract = write_csv(tmp_path / "claims.csv", [row()])
    with pytest.raises(ConfigError) as refused:
        await import_file(hb, "hb", extract, load_mapping(mapping), progress=False)
    assert says in str(refused.value)


async def test_imports_into_two_tables_in_one_transaction_of_the_callers_commit_with_it(
    hb: asyncpg.Connection, tmp_path: Path
) -> None:
    # As the seeder imports: several tables on one connection, batches within one transaction of its own.
    claims = write_csv(tmp_path / "claims.csv", [row(**{"Claim Ref": f"HB{n}"}) for n in range(9100, 9105)])
    people = write_csv(
        tmp_path / "nd.csv",
        [[str(n), f"HB{9100 + n % 5}", "Bo", "Lee", "2000-01-01", "12.50"] for n in range(7)],
        header=["id", "claim", "first", "last", "dob", "income"],
    )
    nd = write_mapping(
        tmp_path,
        'table = "non_dependant"\n[columns]\nnon_dependant_id = "id"\nclaim_ref = "claim"\ngiven_name = "first"\n'
        'family_name = "last"\ndate_of_birth = "dob"\ngross_weekly_income = "income"\n',
        "nd.toml",
    )
    transaction = hb.transaction()
    await transaction.start()
    try:
        first = await import_file(
            hb, "hb", claims, load_mapping(write_mapping(tmp_path, MAPPING)), batch=2, progress=False
        )
        second = await import_file(hb, "hb", people, load_mapping(nd), batch=3, progress=False)
        assert (first.loaded, first.already_loaded, second.loaded, second.already_loaded) == (5, 0, 7, 0)
        assert await hb.fetchval("SELECT count(*) FROM hb.non_dependant") == 7
    finally:
        await transaction.rollback()
    assert await hb.fetchval("SELECT count(*) FROM hb.claim") == 0  # nothing committed but by the caller
    assert await hb.fetchval("SELECT count(*) FROM hb.non_dependant") == 0
