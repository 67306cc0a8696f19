"""What the rate limits cost, and what they stop.

    python -m bench.ratelimit [--requests 2000]

1. A check in the shared store (``hub.records.ratelimits.PgBuckets.take``: one upsert over the user's and
   the organisation's buckets), straight through asyncpg, at concurrency 1 and 32: many users of one
   organisation (every check locks the organisation's row: the hot spot) and many organisations.
2. The cheapest request through the hub (its own uvicorn process), limits on and off (``enabled = false``),
   at concurrency 1 and 32: p50, p99, requests/s and hub CPU ms per request. The difference is what a check
   costs per request.
3. A flood of forged tokens (the issuer's key id, another key: each costs a real signature check) from one
   address, with a benign request from another address every 20 ms alongside, limits on and off: how many
   signature checks the flood got, the hub CPU it cost, and the benign probe's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.hubserver import BENCH_ORG, add_load_arguments, bench_caller, cpu_seconds, hub_env, hub_server, seeded_stores
from bench.results_file import this_command, write_result
from hub.access.ratelimit import Bucket, BucketSpec
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores
from hub.records.ratelimits import PgBuckets

CHEAP = json.dumps({"query": "{ __typename }"})
LIMITS = """
enabled = {enabled}
[default]
user = {{ capacity = 1000000, per_second = 100000 }}
organisation = {{ capacity = 1000000, per_second = 100000 }}
refusal_cost = 5
[address]
capacity = 100
per_second = 10
"""


def _summary(latencies: list[float], wall: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "per_second": len(latencies) / wall,
    }


async def _checks(pool: asyncpg.Pool, *, requests: int, concurrency: int, users: int, orgs: int) -> dict[str, float]:
    store = PgBuckets(pool, timeout=5)
    spec = BucketSpec(capacity=1e9, per_second=1e6)
    run = uuid.uuid4().hex[:6]
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for i in queue:
            buckets = [
                Bucket(f"org:{run}-{i % orgs}", "organisation", spec),
                Bucket(f"user:{run}-{i % users}", "user", spec),
            ]
            start = time.perf_counter()
            levels = await store.take(buckets, 1.0)
            latencies.append(time.perf_counter() - start)
            assert all(lv.granted for lv in levels)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result = _summary(latencies, time.perf_counter() - started)
    result["client_cpu_ms_per_check"] = 1000 * (time.process_time() - cpu) / requests  # what a pod spends
    return result


async def _through_hub(url: str, tokens: list[str], pid: int, *, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def drive(n: int) -> float:
            queue = iter(range(n))
            started = time.perf_counter()

            async def worker() -> None:
                for i in queue:
                    headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"}
                    start = time.perf_counter()
                    async with session.post(url, data=CHEAP, headers=headers) as r:
                        await r.read()
                        if r.status != 200:
                            raise RuntimeError(f"bad answer {r.status}")
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - started

        await drive(min(200, requests))  # warm-up
        latencies.clear()
        cpu0 = cpu_seconds(pid)
        wall = await drive(requests)
        result = _summary(latencies, wall)
        result["server_cpu_ms_per_request"] = 1000 * (cpu_seconds(pid) - cpu0) / requests
        return result


async def _flood(url: str, forged: str, good: str, pid: int, *, seconds: float) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    probes: list[float] = []
    probe_errors: dict[int, int] = {}
    stop = time.monotonic() + seconds
    cpu0 = cpu_seconds(pid)
    flood_headers = {"Authorization": f"Bearer {forged}", "Content-Type": "application/json"}

    async def flood(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < stop:
            async with session.post(url, data=CHEAP, headers=flood_headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1

    async def probe() -> None:
        # From another loopback address: the per-address limit must not touch it.
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Authorization": f"Bearer {good}", "Content-Type": "application/json"}
            while time.monotonic() < stop:
                start = time.perf_counter()
                async with session.post(url, data=CHEAP, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        probe_errors[r.status] = probe_errors.get(r.status, 0) + 1
                probes.append(time.perf_counter() - start)
                await asyncio.sleep(0.02)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        await asyncio.gather(probe(), *(flood(session) for _ in range(32)))
    cpu = cpu_seconds(pid) - cpu0
    flooded = sum(statuses.values())
    probes.sort()
    return {
        "flood_requests": flooded,
        "signature_checks (401)": statuses.get(401, 0),
        "throttled (429)": statuses.get(429, 0),
        "hub_cpu_seconds": cpu,
        "hub_cpu_ms_per_flood_request": 1000 * cpu / max(1, flooded),
        "probe_requests": len(probes),
        "probe_p50_ms": 1000 * statistics.median(probes),
        "probe_p99_ms": 1000 * probes[min(len(probes) - 1, int(len(probes) * 0.99))],
        "probe_errors": probe_errors,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.set_defaults(people=200)
    args = parser.parse_args()
    settings, issuer_path = await seeded_stores(args.database_url, args.people)
    results: dict[str, Any] = {"requests": args.requests}
    try:
        good = await bench_caller(settings, issuer_path, council=None)
        issuer = IssuerKey.load(issuer_path)
        tokens = [
            issuer.mint(
                issuer=settings.issuer,
                audience=settings.audience,
                org=BENCH_ORG,
                org_type="council_care_finance",
                user=f"bench-{n}",
                purposes=["CARE_CHARGING_DOMICILIARY"],
            )
            for n in range(50)
        ]
        forged = IssuerKey(Ed25519PrivateKey.generate(), issuer.kid).mint(
            issuer=settings.issuer,
            audience=settings.audience,
            org=BENCH_ORG,
            org_type="council_care_finance",
            user="forger",
            purposes=["CARE_CHARGING_DOMICILIARY"],
        )
        # As many connections as the hub gives its limiter (hub.app: 4 a pod), so concurrency 32 queues as there.
        pool = await asyncpg.create_pool(settings.service_url("hub"), min_size=1, max_size=4)
        try:
            for concurrency in (1, 32):
                for case, users, orgs in (("one organisation, 50 users", 50, 1), ("50 organisations", 50, 50)):
                    key = f"check, {case}, concurrency {concurrency}"
                    results[key] = await _checks(
                        pool, requests=args.requests, concurrency=concurrency, users=users, orgs=orgs
                    )
                    print(key, results[key])
        finally:
            await pool.close()
        folder = Path(tempfile.mkdtemp(prefix="wh-bench-rl-"))
        for enabled in (True, False):
            limits = folder / f"limits-{enabled}.toml"
            limits.write_text(LIMITS.format(enabled=str(enabled).lower()))
            env = {**hub_env(settings), "WELFARE_HUB_RATE_LIMITS": str(limits)}
            label = "limits on" if enabled else "limits off"
            async with hub_server(env) as (url, pid):
                for concurrency in (1, 32):
                    key = f"hub, {label}, concurrency {concurrency}"
                    n = args.requests if concurrency > 1 else max(200, args.requests // 4)
                    results[key] = await _through_hub(url, tokens, pid, requests=n, concurrency=concurrency)
                    print(key, results[key])
                key = f"forged-token flood, {label}"
                results[key] = await _flood(url, forged, good, pid, seconds=args.flood_seconds)
                print(key, results[key])
    finally:
        await drop_stores(settings)
    rows = ["| case | requests | p50 ms | p99 ms | per second | hub CPU ms/request |", "|---|---|---|---|---|---|"]
    for key, r in results.items():
        if isinstance(r, dict) and "p50_ms" in r:
            cpu = f"{r['server_cpu_ms_per_request']:.2f}" if "server_cpu_ms_per_request" in r else ""
            if "client_cpu_ms_per_check" in r:
                cpu = f"{r['client_cpu_ms_per_check']:.3f} (the pod's side of the check)"
            rows.append(
                f"| {key} | {r['requests']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['per_second']:.0f} | {cpu} |"
            )
    rows += [
        "",
        "| flood | requests | signature checks | 429 | hub CPU ms/flood request | probe p50 ms | probe p99 ms |",
    ]
    rows.append("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        if isinstance(r, dict) and "flood_requests" in r:
            rows.append(
                f"| {key} | {r['flood_requests']} | {r['signature_checks (401)']} | {r['throttled (429)']} | "
                f"{r['hub_cpu_ms_per_flood_request']:.3f} | {r['probe_p50_ms']:.2f} | {r['probe_p99_ms']:.2f} |"
            )
    write_result(
        "ratelimit",
        "Rate limits: the cost of a check, and a forged-token flood",
        this_command("bench.ratelimit"),
        [
            f"Machine: {os.cpu_count()} cores, shared with other work. A check is one upsert over two buckets "
            "(the user's and the organisation's) in hub.rate_bucket; 'through the hub' is `{ __typename }`, the "
            "cheapest authenticated request, so the check's share is as large as it can be.",
        ],
        "\n".join(rows),
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
