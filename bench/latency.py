"""Latency of the federated person query, against a direct asyncpg baseline of the same three lookups.

    python bench/latency.py [--people 20000] [--requests 2000] [--database-url URL]

The hub runs as its own process (``welfare-hub serve``, uvicorn, one worker) so its CPU time per request
is measured apart from the load generator (aiohttp, in this process). The baseline runs the adapters'
own three SQL statements straight through asyncpg at the same concurrency, in this process: it is the
floor the hub adds authentication, the purpose check, GraphQL, pseudonyms and the audit write to.
Figures are written to bench/results/ with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hubserver import add_load_arguments, bench_caller, cpu_seconds, free_port, hub_env, hub_server, seeded_stores
from hub.config import Settings
from hub.ops.demo import ensure_keys
from hub.ops.migrate import drop_stores, migration_url
from hub.ops.subgraphs import running_subgraphs
from hub.types import SOURCE_STORES
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource

QUERY = """query Charging($nino: String!) { person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId
  dwp { awardsInPayment { benefit component rate weeklyAmount } declaredIncome { kind weeklyAmount } }
  housingBenefit { claims { tenancyType weeklyRent weeklyAward } }
  socialCare { domiciliaryHoursPerWeek financialAssessments { weeklyAssessedCharge capitalBand } } } }"""


async def _drive(
    call: Callable[[str], Awaitable[None]], ninos: list[str], requests: int, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for i in queue:
            start = time.perf_counter()
            await call(ninos[i % len(ninos)])
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(latencies) / wall,
    }


async def _pick_ninos(settings: Settings, limit: int = 500) -> list[str]:
    conn = await asyncpg.connect(migration_url(settings, "src_hb"))
    try:
        rows = await conn.fetch("SELECT DISTINCT nino FROM hb.claim WHERE nino IS NOT NULL LIMIT $1", limit * 2)
    finally:
        await conn.close()
    dwp_conn = await asyncpg.connect(migration_url(settings, "src_dwp"))
    try:
        held = await dwp_conn.fetch(
            "SELECT nino FROM dwp.person WHERE nino = ANY($1::text[])", [r["nino"] for r in rows]
        )
    finally:
        await dwp_conn.close()
    ninos = [r["nino"] for r in held][:limit]
    random.Random(7).shuffle(ninos)
    return ninos


async def _baseline(settings: Settings, ninos: list[str], requests: int, concurrency: int) -> dict[str, float]:
    pools = {
        # Same pool size per source as the hub's (10), so the comparison is like for like.
        s: await asyncpg.create_pool(settings.service_url(s), min_size=min(concurrency, 10), max_size=10)
        for s in SOURCE_STORES
    }
    # The adapters' own statements for a NINO lookup, run straight through asyncpg.
    classes = {"src_dwp": DwpSource, "src_hb": HousingBenefitSource, "src_social_care": SocialCareSource}
    sqls = {
        s: c.record_sql.format(key=c.key_by_kind["nino"][0], where=c.key_by_kind["nino"][1]) for s, c in classes.items()
    }

    async def call(nino: str) -> None:
        await asyncio.gather(*(pools[s].fetch(sqls[s], [nino]) for s in SOURCE_STORES))

    try:
        await _drive(call, ninos, min(200, requests), concurrency)  # warm-up
        return await _drive(call, ninos, requests, concurrency)
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))


async def _hub(url: str, token: str, ninos: list[str], requests: int, concurrency: int, pid: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def call(nino: str) -> None:
            async with session.post(
                url, data=json.dumps({"query": QUERY, "variables": {"nino": nino}}), headers=headers
            ) as r:
                body = await r.json()
                if r.status != 200 or "errors" in body:
                    raise RuntimeError(f"bad answer {r.status}: {str(body)[:200]}")

        await _drive(call, ninos, min(200, requests), concurrency)  # warm-up
        cpu0 = cpu_seconds(pid)
        result = await _drive(call, ninos, requests, concurrency)
        result["server_cpu_ms_per_request"] = 1000 * (cpu_seconds(pid) - cpu0) / result["requests"]
        return result


def _three_free_ports() -> int:
    """A port with the next two free as well (the subgraphs take three in a row)."""
    import socket

    for _ in range(50):
        first = free_port()
        taken = False
        for port in (first + 1, first + 2):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
        if not taken:
            return first
    raise RuntimeError("no three free ports in a row")


async def _over_subgraphs(
    settings: Settings, token: str, ninos: list[str], requests: int, concurrency: int
) -> dict[str, float]:
    """The same hub with each source answered by its own subgraph process: CPU per request of the hub and
    of the three subgraphs together (what the federation costs the hub, and what it costs the sources)."""
    keys = ensure_keys(settings.data_dir)
    with running_subgraphs(
        settings, jwks=keys.assertion_jwks, first_port=_three_free_ports(), folder=settings.data_dir
    ) as subs:
        env = {
            **hub_env(settings),
            **{f"WELFARE_HUB_SUBGRAPH_{n.upper()}_URL": sub.url for n, sub in subs.items()},
            "WELFARE_HUB_ASSERTION_KEY": str(keys.assertion),
        }
        async with hub_server(env) as (url, pid):
            pids = [sub.process.pid for sub in subs.values()]
            before = sum(cpu_seconds(p) for p in pids)
            result = await _hub(url, token, ninos, requests, concurrency, pid)
            # The warm-up inside _hub is counted for the subgraphs too: subtract its share.
            spent = sum(cpu_seconds(p) for p in pids) - before
            total = result["requests"] + min(200, requests)
            result["subgraphs_cpu_ms_per_request"] = 1000 * spent / total
            return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.add_argument("--subgraphs", action="store_true", help="also run the hub over the sources' subgraphs")
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    try:
        # A national body (no council area): the subjects come from every council.
        token = await bench_caller(settings, issuer, council=None)
        async with hub_server(hub_env(settings)) as (url, pid):
            ninos = await _pick_ninos(settings)
            results: dict[str, Any] = {"people": args.people, "distinct_subjects": len(ninos)}
            for concurrency, n in ((1, max(200, args.requests // 5)), (32, args.requests)):
                results[f"baseline_c{concurrency}"] = await _baseline(settings, ninos, n, concurrency)
                results[f"hub_c{concurrency}"] = await _hub(url, token, ninos, n, concurrency, pid)
        if args.subgraphs:
            for concurrency, n in ((1, max(200, args.requests // 5)), (32, args.requests)):
                results[f"federated_c{concurrency}"] = await _over_subgraphs(settings, token, ninos, n, concurrency)
    finally:
        await drop_stores(settings)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    lines = [
        f"# Federated person query latency ({stamp})",
        "",
        f"Command: `{command}`",
        "",
        f"{args.people} synthetic people; {results['distinct_subjects']} distinct subjects in all three sources.",
        "",
        "| run | concurrency | p50 ms | p99 ms | requests/s | hub CPU ms/request |",
        "|---|---|---|---|---|---|",
    ]
    for c in (1, 32):
        b, h = results[f"baseline_c{c}"], results[f"hub_c{c}"]
        lines.append(f"| direct asyncpg (baseline) | {c} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {b['rps']:.0f} | |")
        lines.append(
            f"| hub | {c} | {h['p50_ms']:.2f} | {h['p99_ms']:.2f} | {h['rps']:.0f} | {h['server_cpu_ms_per_request']:.2f} |"
        )
        lines.append(
            f"| hub / baseline | {c} | {h['p50_ms'] / b['p50_ms']:.2f}x | {h['p99_ms'] / b['p99_ms']:.2f}x | {h['rps'] / b['rps']:.2f}x | |"
        )
        if f"federated_c{c}" in results:
            f = results[f"federated_c{c}"]
            lines.append(
                f"| hub over subgraphs | {c} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['rps']:.0f} | "
                f"{f['server_cpu_ms_per_request']:.2f} (+ {f['subgraphs_cpu_ms_per_request']:.2f} in the subgraphs) |"
            )
            lines.append(
                f"| over subgraphs / direct hub | {c} | {f['p50_ms'] / h['p50_ms']:.2f}x | "
                f"{f['p99_ms'] / h['p99_ms']:.2f}x | {f['rps'] / h['rps']:.2f}x | "
                f"{f['server_cpu_ms_per_request'] / h['server_cpu_ms_per_request']:.2f}x |"
            )
    text = "\n".join(lines) + "\n"
    out = Path(__file__).resolve().parent / "results" / f"latency-{stamp}.md"
    out.write_text(text + "\n```json\n" + json.dumps(results, indent=2) + "\n```\n")
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
