"""How fast ``welfare-hub import`` loads a council's extract, beside a bare COPY of the same rows.

    python -m bench.importing [--rows 200000] [--rounds 2] [--database-url URL]

An HB claim extract of ``--rows`` rows (every tenth with something the import repairs or rejects: a NINO
written loosely, a postcode in lower case, a date that does not exist, a rent that is not a number) is
written once; then, in turn and ``--rounds`` times each on a freshly truncated table: the import
(:func:`hub.ops.importing.import_file`: parse, check, convert, report, COPY in batches, INSERT ON CONFLICT),
and the baseline, the rows the import loaded read back and COPYed straight into the table (what a load with
no checks at all costs). Wall time and this process's CPU, rows a second, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.importing import import_file, load_mapping
from hub.ops.migrate import drop_stores, migrate

MAPPING = Path(__file__).resolve().parents[1] / "docs" / "examples" / "hb-claim.toml"  # shared with the tests
HEADER = ["Claim Ref", "Council", "NI Number", "Forename", "Surname", "DOB", "Address", "Town", "Postcode", "Tenure",
          "Rent", "Award", "Bedrooms", "Carer Room", "Start"]  # fmt: skip


def write_extract(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    names = ["Ann", "Bob", "Carl", "Dee", "Eve", "Faisal", "Grace", "Huw", "Iqbal", "Jo"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            nino = f"AB{rng.randrange(10**6):06d}{'ABCD'[i % 4]}"
            dob = f"{rng.randrange(1, 28):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1930, 2005)}"
            postcode = f"N{rng.randrange(1, 20)} {rng.randrange(10)}AA"
            rent = f"{rng.uniform(50, 300):.2f}"
            flaw = i % 10
            if flaw == 1:
                nino = " ".join([nino[:2], nino[2:4], nino[4:6], nino[6:8], nino[8]]).lower()
            elif flaw == 2:
                postcode = postcode.lower().replace(" ", "")
            elif flaw == 3 and i % 20 == 3:
                dob = "31/02/1950"
            elif flaw == 4 and i % 40 == 4:
                rent = "n/a"
            out.writerow([f"HB{i:08d}", "E09000901", nino, rng.choice(names), rng.choice(names) + "son", dob,
                          f"{i % 200} High St", "Town", postcode, rng.choice(["social", "lha"]), rent, "50.00",
                          str(rng.randrange(0, 5)), rng.choice(["yes", "no"]), "2020-01-01"])  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    url = args.database_url or os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    settings = Settings(database_url=url, db_prefix=f"bi{uuid.uuid4().hex[:8]}_")
    await migrate(settings)
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    extract, mapping = work / "claims.csv", MAPPING
    write_extract(extract, args.rows)
    conn = await asyncpg.connect(settings.admin_url("src_hb"))
    timings: dict[str, list[tuple[float, float]]] = {"import": [], "bare COPY": []}
    loaded_rows: list[asyncpg.Record] = []
    report = None
    try:
        for _ in range(args.rounds):
            await conn.execute("TRUNCATE hb.claim CASCADE")
            wall, cpu = time.perf_counter(), time.process_time()
            report = await import_file(conn, "hb", extract, load_mapping(mapping), progress=False)
            timings["import"].append((time.perf_counter() - wall, time.process_time() - cpu))
            loaded_rows = list(await conn.fetch("SELECT * FROM hb.claim"))
            columns = list(loaded_rows[0].keys())
            records = [tuple(r) for r in loaded_rows]
            await conn.execute("TRUNCATE hb.claim CASCADE")
            wall, cpu = time.perf_counter(), time.process_time()
            await conn.copy_records_to_table("claim", schema_name="hb", records=records, columns=columns)
            timings["bare COPY"].append((time.perf_counter() - wall, time.process_time() - cpu))
    finally:
        await conn.close()
        await drop_stores(settings)
    assert report is not None
    best = {k: min(v) for k, v in timings.items()}
    rows = [
        f"| {name} | {wall:.2f} s | {cpu:.2f} s | {args.rows / wall:,.0f} |"
        for name, (wall, cpu) in ((k, best[k]) for k in timings)
    ]
    ratio = best["import"][0] / best["bare COPY"][0]
    table = "\n".join(["| load | wall (best) | client CPU | rows/s read |", "|---|---|---|---|", *rows])
    write_result(
        "import",
        f"welfare-hub import of {args.rows:,} HB claims beside a bare COPY",
        this_command("bench.importing"),
        [
            f"One extract, {args.rows:,} rows; {report.loaded:,} loaded, {report.repaired:,} repaired, "
            f"{report.rejected:,} rejected (each with its line in the report). Best of {args.rounds} rounds each, "
            "interleaved, on a freshly truncated table. The baseline COPYs the rows the import loaded, already "
            "typed: no parsing, no checks, no report.",
            f"The import takes {ratio:.1f}x the bare COPY's wall time; the difference is the CSV parse and the "
            "per-value checks in Python (client CPU), the staging table and the INSERT ON CONFLICT.",
        ],
        table,
        {"rows": args.rows, "timings": timings, "ratio": ratio, "summary": report.summary()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
