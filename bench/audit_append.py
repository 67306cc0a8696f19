"""The audit append under concurrency: how long records wait for the chain's lock, and what group commit saves.

    python -m bench.audit_append [--people 2000] [--requests 1000] [--rounds 4] [--appends 4000] [--database-url URL]

Two parts, in one sitting:

1. **The append alone** (this process, no hub): ``--appends`` records written through the one-at-a-time sink
   (the append as it was: one ``hub.audit_append`` statement per record) and through the group-commit sink
   (:class:`hub.audit.chain.PgAuditSink`), at concurrency 1 and 32, on a pool of ``POOL_SIZE`` connections
   (the hubs' WELFARE_HUB_POOL_SIZE here), with the client's and the PostgreSQL backends' CPU per append.
   The latency distribution at 32 against 1 is the queueing (for a connection and the chain's lock).
2. **The hub under load** (the care-charging query, direct sources, ``welfare-hub serve`` on uvicorn): three
   hubs on the same stores, each started for its turn (one at a time: the server's connections are shared),
   interleaved (A, B, C, A, B, C): the one-at-a-time sink, group commit, and no audit at all
   (``bench.unobserved``, what the append costs).
   During each run pg_stat_activity is sampled: the backends waiting on the chain's advisory lock and the
   backends running an append; by Little's law their mean counts over the append rate are the mean wait for
   the lock and the mean time in the append statement per record.

``python -m bench.audit_append serve`` is the hub with the one-at-a-time sink (bench only; the service never
imports this module).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg

from bench.hubserver import add_load_arguments, bench_caller, cpu_seconds, hub_env, hub_server, seeded_stores
from bench.results_file import this_command, write_result
from hub.audit.chain import BODY_FIELDS, Appended, AuditRecord, PgAuditSink, canonical_body
from hub.config import Settings
from hub.ops.migrate import drop_stores

POOL_SIZE = 6  # connections per store pool, here and in each hub (WELFARE_HUB_POOL_SIZE; the default is 10)

QUERY = """query Charging($nino: String!) { person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId
  dwp { awardsInPayment { benefit component rate weeklyAmount } declaredIncome { kind weeklyAmount } }
  housingBenefit { claims { tenancyType weeklyRent weeklyAward } }
  socialCare { domiciliaryHoursPerWeek financialAssessments { weeklyAssessedCharge capitalBand } } } }"""


# The append as it was (placeholders only: every value goes through a parameter).
_APPEND_ONE = (
    "SELECT seq, record_hash, occurred_at FROM hub.audit_append("
    + ", ".join(f"${i}" for i in range(1, len(BODY_FIELDS) + 2))
    + ")"
)


class SingleAppendSink:
    """The append before group commit: one statement, one round trip and one turn of the lock per record."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def write(self, record: AuditRecord) -> Appended:
        fields = [getattr(record, f) for f in BODY_FIELDS]
        async with asyncio.timeout(self.timeout):
            row = await self.pool.fetchrow(
                _APPEND_ONE, canonical_body(record), *[list(v) if isinstance(v, list | tuple) else v for v in fields]
            )
        if row is None or row["record_hash"] is None:
            raise RuntimeError("the audit append returned no record")
        return Appended(row["seq"], bytes(row["record_hash"]), row["occurred_at"])

    async def aclose(self) -> None:
        return None


def _record() -> AuditRecord:
    return AuditRecord(
        request_id=uuid.uuid4(),
        operation_type="query",
        operation_name="Charging",
        caller_org="bench-council",
        caller_org_type="council_care_finance",
        caller_user_hash="u" * 64,
        purpose="CARE_CHARGING_DOMICILIARY",
        legal_basis="bench",
        subject_key_id="k1",
        subject_hashes=["s" * 64],
        link_method="nino",
        fields_released=["Person.subjectId", "Dwp.awardsInPayment", "HousingBenefit.claims"],
        sources_read=["dwp", "hb", "social_care"],
        decision="released",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        link_probability=1.0,
        model_version="bench",
    )


async def drive(call: Callable[[int], Awaitable[None]], requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for i in queue:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "wall_s": wall,
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


async def _backend_cpu(admin: asyncpg.Connection, db: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``db`` now (the server is local: /proc)."""
    pids = [r["pid"] for r in await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", db)]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            total += cpu_seconds(pid)
    return total


async def _appends_alone(settings: Settings, appends: int, rounds: int, admin: asyncpg.Connection) -> dict[str, Any]:
    pool = await asyncpg.create_pool(settings.service_url("hub"), min_size=POOL_SIZE, max_size=POOL_SIZE)
    sinks = {"single": SingleAppendSink(pool, timeout=30), "group": PgAuditSink(pool, timeout=30)}
    db = settings.database_name("hub")
    out: dict[str, Any] = {}
    try:
        for concurrency in (1, 32):
            for _ in range(rounds):
                for name, sink in sinks.items():

                    async def call(_: int, sink: Any = sink) -> None:
                        await sink.write(_record())

                    n = appends if concurrency > 1 else appends // 4
                    cpu0, pg0 = time.process_time(), await _backend_cpu(admin, db)
                    result = await drive(call, n, concurrency)
                    result["client_cpu_ms_per_append"] = 1000 * (time.process_time() - cpu0) / n
                    result["pg_cpu_ms_per_append"] = 1000 * (await _backend_cpu(admin, db) - pg0) / n
                    out.setdefault(f"{name}_c{concurrency}", []).append(result)
                    print(name, concurrency, result, flush=True)
    finally:
        await pool.close()
    return out


_SAMPLE = """SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory') AS waiting,
                    count(*) FILTER (WHERE query LIKE '%audit_append%'
                                     AND NOT (wait_event_type = 'Lock' AND wait_event = 'advisory')) AS running
               FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()"""


async def _sample(conn: asyncpg.Connection, db: str, stop: asyncio.Event, into: dict[str, float]) -> None:
    samples = waiting = running = 0
    while not stop.is_set():
        row = await conn.fetchrow(_SAMPLE, db)
        assert row is not None
        samples += 1
        waiting += row["waiting"]
        running += row["running"]
        await asyncio.sleep(0.01)
    into.update(samples=samples, mean_waiting=waiting / max(samples, 1), mean_running=running / max(samples, 1))


async def _hub_run(
    url: str,
    pid: int,
    token: str,
    ninos: list[str],
    requests: int,
    concurrency: int,
    admin: asyncpg.Connection,
    db: str,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        errors: dict[str, int] = {}

        async def call(i: int) -> None:
            payload = json.dumps({"query": QUERY, "variables": {"nino": ninos[i % len(ninos)]}})
            async with session.post(url, data=payload, headers=headers) as r:
                body = await r.json()
                if r.status != 200 or "errors" in body:
                    code = ",".join(str(e.get("extensions", {}).get("code")) for e in body.get("errors", []))
                    errors[f"{r.status} {code}"] = errors.get(f"{r.status} {code}", 0) + 1

        await drive(call, min(100, requests), concurrency)  # warm-up
        errors.clear()
        stop, sampled = asyncio.Event(), {}
        sampler = asyncio.create_task(_sample(admin, db, stop, sampled))
        cpu0 = cpu_seconds(pid)
        result: dict[str, Any] = await drive(call, requests, concurrency)
        result["hub_cpu_ms_per_request"] = 1000 * (cpu_seconds(pid) - cpu0) / result["requests"]
        stop.set()
        await sampler
        result["errors"] = sum(errors.values())
        result["error_codes"] = dict(errors)
    # Little's law: the mean number of backends in a state is the arrival rate times the mean time in it.
    result["lock_wait_ms_per_append"] = 1000 * sampled["mean_waiting"] / result["rps"]
    result["append_running_ms_per_append"] = 1000 * sampled["mean_running"] / result["rps"]
    result["pg_samples"] = sampled["samples"]
    return result


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    # The median: on a shared machine one disturbed run should not move the figure.
    return statistics.median(r[key] for r in runs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.set_defaults(people=2000, requests=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--appends", type=int, default=4000)
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    try:
        token = await bench_caller(settings, issuer, council=None)
        from bench.latency import _pick_ninos

        ninos = await _pick_ninos(settings)
        admin = await asyncpg.connect(settings.admin_url())
        alone = await _appends_alone(settings, args.appends, args.rounds, admin)
        # A server whose 100 connections other work shares: fewer per store pool than the default 10.
        env = {**hub_env(settings), "WELFARE_HUB_USER_IN_FLIGHT": "1024", "WELFARE_HUB_POOL_SIZE": str(POOL_SIZE)}
        hub: dict[str, Any] = {}
        try:
            # One hub at a time (this server's connections are shared), each started afresh for its run.
            targets = {
                "single": ({**env}, "bench.audit_append"),
                "group": ({**env}, "hub"),
                "no_audit": ({**env, "BENCH_TAKE_OUT": "audit"}, "bench.unobserved"),
            }
            db = settings.database_name("hub")
            names = list(targets)
            for r in range(args.rounds):
                for name in names[r % 3 :] + names[: r % 3]:  # each round in another order: drift falls on all
                    target_env, module = targets[name]
                    async with hub_server(target_env, module=module) as (url, pid):
                        for concurrency in (32, 1):
                            n = args.requests if concurrency > 1 else args.requests // 5
                            run = await _hub_run(url, pid, token, ninos, n, concurrency, admin, db)
                            hub.setdefault(f"{name}_c{concurrency}", []).append(run)
                            print(name, concurrency, run, flush=True)
        finally:
            await admin.close()
    finally:
        await drop_stores(settings)
    _report(args, alone, hub)


def _report(args: argparse.Namespace, alone: dict[str, Any], hub: dict[str, Any]) -> None:
    lines = [
        "| part | sink | c | runs | per second | p50 ms | p99 ms | hub (or client) CPU ms/req | PostgreSQL CPU "
        "ms/append | lock wait ms/append | in append ms/append | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in (1, 32):
        for name in ("single", "group"):
            runs = alone[f"{name}_c{c}"]
            lines.append(
                f"| append alone | {name} | {c} | {len(runs)} | {_mean(runs, 'rps'):.0f} | {_mean(runs, 'p50_ms'):.2f} "
                f"| {_mean(runs, 'p99_ms'):.2f} | {_mean(runs, 'client_cpu_ms_per_append'):.3f} "
                f"| {_mean(runs, 'pg_cpu_ms_per_append'):.3f} | | | |"
            )
    for c in (1, 32):
        for name in ("single", "group", "no_audit"):
            runs = hub[f"{name}_c{c}"]
            lines.append(
                f"| hub | {name} | {c} | {len(runs)} | {_mean(runs, 'rps'):.1f} | {_mean(runs, 'p50_ms'):.2f} "
                f"| {_mean(runs, 'p99_ms'):.2f} | {_mean(runs, 'hub_cpu_ms_per_request'):.2f} | "
                f"| {_mean(runs, 'lock_wait_ms_per_append'):.2f} | {_mean(runs, 'append_running_ms_per_append'):.2f} "
                f"| {sum(r['errors'] for r in runs)} |"
            )
    ratios = []
    for c in (1, 32):
        s, g, n = hub[f"single_c{c}"], hub[f"group_c{c}"], hub[f"no_audit_c{c}"]
        ratios.append(
            f"c{c}: group/single requests/s {_mean(g, 'rps') / _mean(s, 'rps'):.2f}x, hub CPU/req "
            f"{_mean(g, 'hub_cpu_ms_per_request') / _mean(s, 'hub_cpu_ms_per_request'):.2f}x, p50 "
            f"{_mean(g, 'p50_ms') / _mean(s, 'p50_ms'):.2f}x; the append's CPU per request (single - none) "
            f"{_mean(s, 'hub_cpu_ms_per_request') - _mean(n, 'hub_cpu_ms_per_request'):.2f} ms, "
            f"(group - none) {_mean(g, 'hub_cpu_ms_per_request') - _mean(n, 'hub_cpu_ms_per_request'):.2f} ms"
        )
    write_result(
        "audit-append",
        "The audit append under concurrency: the chain lock and group commit",
        this_command("bench.audit_append"),
        [
            f"{args.people} synthetic people; direct sources; WELFARE_HUB_POOL_SIZE={POOL_SIZE}; the three hubs are started "
            f"one at a time for their turn, {args.rounds} rounds interleaved (the order rotated each round), c32 then c1 "
            "after a warm-up each; figures are medians over the rounds (each run in the JSON).",
            "Lock wait and time in the append come from pg_stat_activity sampled every 10 ms during each run "
            "(backends waiting on the advisory lock; backends running an append and not waiting), divided by "
            "the append rate (Little's law): a mean per record, not a distribution.",
            "\n".join(f"- {r}" for r in ratios),
        ],
        "\n".join(lines),
        {"appends_alone": alone, "hub": hub},
    )
    print("\n".join(lines))
    print("\n".join(ratios))


def _serve_single() -> int:
    import hub.app as hub_app
    from hub.cli import main as cli

    hub_app.PgAuditSink = SingleAppendSink  # type: ignore[assignment,misc]
    return cli(sys.argv[1:])


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(_serve_single())
    asyncio.run(main())
