"""The hub scaled out on one PostgreSQL: 1 process of 1 worker, 1 process of 2 uvicorn workers, 2 processes on
two ports; then the audit checks (nothing lost, nothing duplicated, the chain verifies).

    python -m bench.scale [--people 2000] [--requests 1500] [--rounds 2] [--pool-size 4] [--database-url URL]

Each configuration is started on its own (the others stopped: this server's max_connections is shared),
warmed up, then loaded with the care-charging query (direct sources) at concurrency 32 and 1; with two
processes, the load generator's connections are split evenly across the two ports. Rounds are interleaved
(A, B, C, A, B, C). CPU per request is the hub's whole process tree from /proc (a supervisor and its
workers). After every run the chain is checked against what the callers were given: the audit receipts of
the answers (request id and sequence number) must be exactly the records the chain gained, each once, and at
the end the whole chain and its checkpoints must verify (hub.audit.verify).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.audit_append import QUERY
from bench.hubserver import BENCH_ORG, add_load_arguments, bench_caller, hub_env, hub_server, seeded_stores
from bench.latency import _pick_ninos
from bench.results_file import this_command, write_result
from hub.audit.checkpoints import AuditKeys
from hub.audit.verify import verify_database
from hub.ops.demo import ensure_keys
from hub.ops.migrate import drop_stores


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its descendants alive now (/proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total


class Load:
    """Closed-loop load over one or more hub URLs; keeps each answer's audit receipt."""

    def __init__(self, urls: list[str], token: str, ninos: list[str]) -> None:
        self.urls = urls
        self.ninos = ninos
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.receipts: list[tuple[str, int]] = []  # (request id, seq) of every answer
        self.bad: collections.Counter[str] = collections.Counter()

    async def run(self, requests: int, concurrency: int) -> dict[str, Any]:
        latencies: list[float] = []
        queue = iter(range(requests))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def worker(k: int) -> None:
                url = self.urls[k % len(self.urls)]  # the connections split evenly across the processes
                for i in queue:
                    payload = json.dumps({"query": QUERY, "variables": {"nino": self.ninos[i % len(self.ninos)]}})
                    start = time.perf_counter()
                    async with session.post(url, data=payload, headers=self.headers) as r:
                        body = await r.json(content_type=None)
                    latencies.append(time.perf_counter() - start)
                    receipt = (body.get("extensions") or {}).get("auditReceipt")
                    if receipt is not None:
                        self.receipts.append((receipt["requestId"], receipt["seq"]))
                    if r.status != 200 or "errors" in body or receipt is None:
                        self.bad[f"{r.status} {str(body.get('errors'))[:120]}"] += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(concurrency)))
            wall = time.perf_counter() - started
        latencies.sort()
        return {
            "requests": len(latencies),
            "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        }


@contextlib.asynccontextmanager
async def hubs(env: Mapping[str, str], processes: int) -> AsyncIterator[list[tuple[str, int]]]:
    async with contextlib.AsyncExitStack() as stack:
        started = [await stack.enter_async_context(hub_server(env, ready_seconds=60)) for _ in range(processes)]
        yield started


async def chain_check(admin: asyncpg.Connection, after_seq: int, receipts: list[tuple[str, int]]) -> dict[str, Any]:
    """The records the chain gained after ``after_seq``, against the receipts the callers hold."""
    rows = await admin.fetch(
        "SELECT request_id::text AS request_id, seq FROM hub.audit_event WHERE seq > $1 AND caller_org = $2",
        after_seq,
        BENCH_ORG,
    )
    in_chain = collections.Counter(r["request_id"] for r in rows)
    given = collections.Counter(rid for rid, _ in receipts)
    seq_of = {r["request_id"]: r["seq"] for r in rows}
    return {
        "receipts": len(receipts),
        "records": len(rows),
        "lost": sum((given - in_chain).values()),  # a receipt whose record is not in the chain
        "unreceipted": sum((in_chain - given).values()),  # a record no caller was answered for
        "duplicated_records": sum(n - 1 for n in in_chain.values() if n > 1),
        "duplicated_receipts": sum(n - 1 for n in given.values() if n > 1),
        "seq_mismatch": sum(1 for rid, seq in receipts if seq_of.get(rid) != seq),
    }


async def head(admin: asyncpg.Connection) -> int:
    return int(await admin.fetchval("SELECT coalesce(max(seq), 0) FROM hub.audit_event"))


CONFIGS: dict[str, tuple[int, int]] = {  # name: (processes, workers each)
    "1 process x 1 worker": (1, 1),
    "1 process x 2 workers": (1, 2),
    "2 processes x 1 worker": (2, 1),
}


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.set_defaults(people=2000, requests=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=4, help="connections per store pool per worker")
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        token = await bench_caller(settings, issuer, council=None)
        ninos = await _pick_ninos(settings)
        base = {**hub_env(settings), "WELFARE_HUB_USER_IN_FLIGHT": "1024", "WELFARE_HUB_POOL_SIZE": str(args.pool_size)}
        admin = await asyncpg.connect(settings.admin_url("hub"))
        try:
            for _ in range(args.rounds):
                for name, (processes, workers) in CONFIGS.items():
                    env = {**base, "WELFARE_HUB_WORKERS": str(workers)}
                    async with hubs(env, processes) as started:
                        urls, pids = [u for u, _ in started], [p for _, p in started]
                        load = Load(urls, token, ninos)
                        since = await head(admin)
                        await load.run(200, 32)  # warm-up: every worker's pools and caches
                        for concurrency, n in ((32, args.requests), (1, args.requests // 5)):
                            cpu0 = sum(tree_cpu_seconds(p) for p in pids)
                            result = await load.run(n, concurrency)
                            cpu = sum(tree_cpu_seconds(p) for p in pids) - cpu0
                            result["hub_cpu_ms_per_request"] = 1000 * cpu / result["requests"]
                            result["concurrency"] = concurrency
                            runs.setdefault(f"{name} c{concurrency}", []).append(result)
                            print(name, concurrency, {k: round(v, 2) for k, v in result.items()}, flush=True)
                        check = await chain_check(admin, since, load.receipts)
                        check["bad_answers"] = dict(load.bad)
                        runs.setdefault(f"{name} check", []).append(check)
                        print(name, check, flush=True)
            keys = AuditKeys.load(ensure_keys(settings.data_dir).audit)
            verified = (await verify_database(admin, keys.public)).summary()
        finally:
            await admin.close()
    finally:
        await drop_stores(settings)
    _report(args, runs, verified)


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.fmean(r[key] for r in runs)


def _report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], verified: dict[str, Any]) -> None:
    lines = [
        "| configuration | c | runs | requests/s | p50 ms | p99 ms | hub CPU ms/req (all processes) | vs 1x1 requests/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in (32, 1):
        one = _mean(runs[f"1 process x 1 worker c{c}"], "rps")
        for name in CONFIGS:
            rs = runs[f"{name} c{c}"]
            lines.append(
                f"| {name} | {c} | {len(rs)} | {_mean(rs, 'rps'):.1f} | {_mean(rs, 'p50_ms'):.1f} | "
                f"{_mean(rs, 'p99_ms'):.1f} | {_mean(rs, 'hub_cpu_ms_per_request'):.2f} | {_mean(rs, 'rps') / one:.2f}x |"
            )
    checks = [
        "| configuration | round | receipts | records | lost | unreceipted | duplicated | seq mismatch | bad answers |"
    ]
    checks.append("|---|---|---|---|---|---|---|---|---|")
    for name in CONFIGS:
        for i, ch in enumerate(runs[f"{name} check"], 1):
            checks.append(
                f"| {name} | {i} | {ch['receipts']} | {ch['records']} | {ch['lost']} | {ch['unreceipted']} | "
                f"{ch['duplicated_records'] + ch['duplicated_receipts']} | {ch['seq_mismatch']} | "
                f"{sum(ch['bad_answers'].values())} |"
            )
    all_ok = all(
        ch["lost"]
        == ch["unreceipted"]
        == ch["duplicated_records"]
        == ch["duplicated_receipts"]
        == ch["seq_mismatch"]
        == 0
        and ch["receipts"] == ch["records"]
        for name in CONFIGS
        for ch in runs[f"{name} check"]
    )
    write_result(
        "scale",
        "The hub scaled out on one PostgreSQL: workers and processes, and the audit chain checked",
        this_command("bench.scale"),
        [
            f"{args.people} synthetic people; direct sources; the care-charging query; {args.rounds} rounds, "
            f"configurations interleaved, each started alone; WELFARE_HUB_POOL_SIZE={args.pool_size} (connections "
            "per store pool per worker: the shared server's max_connections is 100). This machine has 2 cores, "
            "shared by the hub, PostgreSQL, the load generator and other work: the ceiling for scaling is there.",
            f"Audit check (every run, all requests including warm-up): "
            f"{'PASSED' if all_ok else 'FAILED'}: receipts given == records the chain gained, none lost, none "
            f"duplicated, each receipt's seq is its record's. Whole chain verified: ok={verified['ok']}, "
            f"records={verified['records']}, last_seq={verified['last_seq']}, checkpoints={verified['checkpoints']}, "
            f"problems={len(verified['problems'])}.",
            "\n".join(checks),
        ],
        "\n".join(lines),
        {"runs": runs, "verified": verified},
    )
    print("\n".join(lines))
    print("\n".join(checks))
    print("all ok" if all_ok else "CHECK FAILED", verified["ok"])


if __name__ == "__main__":
    asyncio.run(main())
