"""Loading a source's own CSV extract (issue 17, item 2): every row checked against the table the database
has, rejected and repaired rows reported by line and reason (never a value), COPY in batches, a re-run loading
nothing twice. Its own stores, on real PostgreSQL; the command through a real process."""

from __future__ import annotations

import csv
import dataclasses
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
from hub.ops.importing import Problem, import_file, load_mapping
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


async def test_a_second_person_with_one_nino_is_rejected_by_name_of_constraint_never_by_value(
    own: Settings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(own.admin_url("src_dwp"))
    try:
        await conn.execute("TRUNCATE dwp.person CASCADE")
        mapping = tmp_path / "dwp.toml"
        mapping.write_text(
            'table = "person"\n[columns]\nperson_id = "id"\nnino = "nino"\ngiven_name = "first"\n'
            'family_name = "last"\ndate_of_birth = "dob"\n'
        )
        extract = write_csv(
            tmp_path / "spine.csv",
            [["1", "JK123456A", "Ann", "Smith", "1950-04-03"], ["2", "JK123456A", "Bob", "Jones", "1960-01-01"]],
            header=["id", "nino", "first", "last", "dob"],
        )
        report = await import_file(conn, "dwp", extract, load_mapping(mapping), progress=False)
    finally:
        await conn.close()
    assert (report.loaded, report.rejected) == (1, 1)
    [problem] = report.problems
    assert problem.line == 3
    assert problem.outcome == "rejected"
    assert problem.reason.startswith("refused by the database (")
    assert "JK123456A" not in problem.reason
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
