"""What authorisation costs per request: the person query with enforcement on, and the same build with it
taken out (``bench.unguarded``), one after the other in one run, as a ratio.

    python -m bench.enforcement [--people 20000] [--requests 2000]

Enforcement here is everything issue 4 adds to a lookup: the organisation register, the operation walk
and purpose decision, the per-field guard, the own-record check and the legitimate-relationship check
(the caller serves one council; the subjects have claims there). Token verification, linkage, source
reads and the audit write run in both.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

import asyncpg

from bench.hubserver import add_load_arguments, bench_caller, hub_env, hub_server, seeded_stores
from bench.latency import _hub
from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.migrate import drop_stores, migration_url

COUNCIL = "E09000901"


async def _subjects(settings: Settings, limit: int = 500) -> list[str]:
    hb = await asyncpg.connect(migration_url(settings, "src_hb"))
    dwp = await asyncpg.connect(migration_url(settings, "src_dwp"))
    try:
        rows = await hb.fetch(
            "SELECT DISTINCT nino FROM hb.claim WHERE nino IS NOT NULL AND council_code = $1 LIMIT $2",
            COUNCIL,
            limit * 2,
        )
        held = await dwp.fetch("SELECT nino FROM dwp.person WHERE nino = ANY($1::text[])", [r["nino"] for r in rows])
    finally:
        await asyncio.gather(hb.close(), dwp.close())
    ninos = [r["nino"] for r in held][:limit]
    random.Random(7).shuffle(ninos)
    return ninos


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    env = hub_env(settings)
    token = await bench_caller(settings, issuer, council=COUNCIL)
    results: dict[str, Any] = {"people": args.people}
    try:
        ninos = await _subjects(settings)
        results["distinct_subjects"] = len(ninos)
        for label, module in (("enforced", "hub"), ("unguarded", "bench.unguarded")):
            async with hub_server(env, module=module) as (url, pid):
                for concurrency, n in ((1, max(200, args.requests // 5)), (32, args.requests)):
                    results[f"{label}_c{concurrency}"] = await _hub(url, token, ninos, n, concurrency, pid)
    finally:
        await drop_stores(settings)
    rows = ["| run | concurrency | p50 ms | p99 ms | requests/s | hub CPU ms/request |", "|---|---|---|---|---|---|"]
    for c in (1, 32):
        e, u = results[f"enforced_c{c}"], results[f"unguarded_c{c}"]
        for label, r in (("enforcement on", e), ("enforcement taken out", u)):
            rows.append(
                f"| {label} | {c} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.0f} | "
                f"{r['server_cpu_ms_per_request']:.2f} |"
            )
        rows.append(
            f"| on / out | {c} | {e['p50_ms'] / u['p50_ms']:.2f}x | {e['p99_ms'] / u['p99_ms']:.2f}x | "
            f"{e['rps'] / u['rps']:.2f}x | {e['server_cpu_ms_per_request'] / u['server_cpu_ms_per_request']:.2f}x |"
        )
    table = "\n".join(rows)
    print(table)
    write_result(
        "enforcement",
        "What authorisation costs per person query",
        this_command("bench.enforcement"),
        [
            f"{args.people} synthetic people; {results['distinct_subjects']} subjects with a claim at the caller's "
            "council; the care-charging query (three sources). Each server is its own uvicorn process; the load "
            "generator runs here. One run, 2 shared cores.",
        ],
        table,
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
