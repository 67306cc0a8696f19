"""Latency of the online fallback: a person lookup by demographics (no NINO) through the hub's HTTP API.

    python -m bench.linkage.online --prefix lk2_ --data-dir /tmp/lk2data [--requests 1000]

Runs against stores already seeded and linked (``welfare-hub seed``, ``link train``, ``link build``) with
the keys and model in ``--data-dir``. The hub runs as its own uvicorn process; queries are the
demographics of random council records as the council holds them (with their typos, moves and swapped
dates), so every outcome appears: found, MATCH_NEEDS_REVIEW, SUBJECT_NOT_FOUND. A NINO lookup through the
link index is measured in the same run as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.hubserver import bench_caller, hub_env, hub_server
from hub.config import Settings
from hub.ops.migrate import migration_url

BY_DETAILS = """query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId housingBenefit { claims { weeklyRent } } } }"""
BY_NINO = """query($n: String) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId housingBenefit { claims { weeklyRent } } } }"""


async def _queries(settings: Settings, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    hb = await asyncpg.connect(migration_url(settings, "src_hb"))
    try:
        rows = await hb.fetch(
            "SELECT c.given_name, c.family_name, c.date_of_birth, c.postcode, r.true_nino FROM hb.claim c "
            "JOIN synth_truth.record_identity r ON r.record_id = 'hb:' || c.claim_ref ORDER BY random() LIMIT $1",
            n,
        )
    finally:
        await hb.close()
    details = [
        {
            "givenName": r["given_name"],
            "familyName": r["family_name"],
            "dateOfBirth": r["date_of_birth"].isoformat(),
            "postcode": r["postcode"],
        }
        for r in rows
    ]
    return details, [r["true_nino"] for r in rows]


async def _drive(
    session: aiohttp.ClientSession, url: str, token: str, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    queue = iter(bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker() -> None:
        for body in queue:
            start = time.perf_counter()
            async with session.post(url, data=json.dumps(body), headers=headers) as r:
                answer = await r.json()
            latencies.append(time.perf_counter() - start)
            errors = answer.get("errors")
            outcomes[errors[0]["extensions"]["code"] if errors else "found"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "rps": round(len(latencies) / wall, 1),
        "outcomes": dict(outcomes),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url, db_prefix=args.prefix, data_dir=args.data_dir)
    details, ninos = await _queries(settings, args.requests)
    spine = await asyncpg.connect(migration_url(settings, "src_dwp"))
    try:
        spine_size = await spine.fetchval("SELECT count(*) FROM dwp.person")
    finally:
        await spine.close()
    env = hub_env(settings)
    results: dict[str, Any] = {"spine_people": spine_size}
    # A national body: the people looked up live in every council's area.
    token = await bench_caller(settings, args.data_dir / "keys" / "demo-issuer.json", council=None)
    async with hub_server(env) as (url, _), aiohttp.ClientSession() as session:
        warm = [{"query": BY_DETAILS, "variables": {"d": d}} for d in details[:50]]
        await _drive(session, url, token, warm, 4)
        for concurrency in (1, 8):
            results[f"demographics_c{concurrency}"] = await _drive(
                session, url, token, [{"query": BY_DETAILS, "variables": {"d": d}} for d in details], concurrency
            )
            results[f"nino_c{concurrency}"] = await _drive(
                session, url, token, [{"query": BY_NINO, "variables": {"n": n}} for n in ninos], concurrency
            )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    command = "python -m bench.linkage.online " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        f"# Online fallback latency ({stamp})",
        "",
        f"Command: `{command}`",
        "",
        f"Spine: {spine_size} DWP people. Queries: demographics of {len(details)} random HB claims as the council holds them.",
        "",
        "| lookup | concurrency | p50 ms | p99 ms | requests/s | outcomes |",
        "|---|---|---|---|---|---|",
    ]
    for c in (1, 8):
        for kind in ("demographics", "nino"):
            r = results[f"{kind}_c{c}"]
            lines.append(f"| {kind} | {c} | {r['p50_ms']} | {r['p99_ms']} | {r['rps']} | {r['outcomes']} |")
    text = "\n".join(lines) + "\n"
    out = Path(__file__).resolve().parents[1] / "results" / f"online-fallback-{stamp}.md"
    out.write_text(text + "\n```json\n" + json.dumps(results, indent=2) + "\n```\n")
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
