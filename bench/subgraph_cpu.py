"""What one ``_entities`` call costs a reference subgraph in CPU: two checkouts' subgraphs side by side.

For each source asked (``--source dwp``, ``--source hb``), one subgraph process is started from each
checkout (``--before``, ``--after``: a folder holding the repo and its ``.venv``), both over the same seeded
stores, the same hub assertion key and the same access-log secret. This process is the hub's side: it sends
each the exact document the hub sends for the care-charging person query (``wire.entity_plan``), one
representation by NINO, signed with a real assertion (``AssertionSigner``, a fresh jti each call) and with
the headers a tracing hub adds (``traceparent``, ``x-welfare-hub-spans: 1``).

The subgraph's CPU is read from ``/proc/<pid>/stat`` (utime + stime) before and after each block of calls;
the blocks are interleaved (before, after, before, after) at each concurrency, for several rounds (the
machine is shared and drifts: compare within a round). Before and after the timed blocks, both subgraphs
answer the same NINOs and their answers must be the same JSON (spans aside); every timed call must be a 200
with data and no errors, or the run says how many were not.

    python -m bench.subgraph_cpu --before /work/main --after . --source dwp --source hb --people 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.hubserver import cpu_seconds, free_port, seeded_stores
from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.demo import ensure_keys
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migration_url
from hub.types import StoreName
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.contract import Ask
from resolvers.sources.remote.wire import EntityPlan, entity_plan

#: What the hub's care-charging person query (bench/latency.py QUERY) selects of each source.
SELECTIONS: Mapping[str, dict[str, frozenset[str]]] = {
    "dwp": {
        "DwpPerson": frozenset({"awardsInPayment", "declaredIncome"}),
        "BenefitAward": frozenset({"benefit", "component", "rate", "weeklyAmount"}),
        "DeclaredIncome": frozenset({"kind", "weeklyAmount"}),
    },
    "hb": {
        "HbPerson": frozenset({"claims"}),
        "HousingBenefitClaim": frozenset({"tenancyType", "weeklyRent", "weeklyAward"}),
    },
    "social_care": {
        "CareClient": frozenset({"domiciliaryHoursPerWeek", "financialAssessments"}),
        "FinancialAssessment": frozenset({"weeklyAssessedCharge", "capitalBand"}),
    },
}
_ENTITY = {"dwp": "DwpPerson", "hb": "HbPerson", "social_care": "CareClient"}
_STORE: Mapping[str, StoreName] = {"dwp": "src_dwp", "hb": "src_hb", "social_care": "src_social_care"}
_TABLE = {"dwp": "dwp.person", "hb": "hb.claim", "social_care": "social_care.client"}


@dataclass
class Target:
    label: str  # "before" or "after"
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def _subgraph(label: str, checkout: Path, source: str, env: Mapping[str, str], log: Path) -> Iterator[Target]:
    port = free_port()
    python = checkout / ".venv" / "bin" / "python"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(python),
                "-m",
                "hub",
                "subgraph",
                source.replace("_", "-"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=checkout,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Target(label, f"http://127.0.0.1:{port}/graphql", process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


class Caller:
    """The hub's side of one source's calls: the plan's document, a fresh assertion each call."""

    def __init__(self, source: str, signer: AssertionSigner, ninos: list[str]) -> None:
        self.source = source
        self.plan: EntityPlan = entity_plan(_ENTITY[source], SELECTIONS[source], frozenset({"nino"}))
        self.signer = signer
        self.ninos = ninos
        self.rng = random.Random(11)

    def request(self, nino: str) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(
            {"query": self.plan.query, "variables": {"r": [{"__typename": self.plan.entity, "nino": nino}]}}
        )
        ask = Ask(
            purpose="CARE_CHARGING_DOMICILIARY",
            legal_basis="SI 2012/1483 reg. 5(1)(c), Care Act 2014 s.14 and s.17",
            org="bench-council",
            org_type="council_care_finance",
            audit_id=uuid.uuid4(),
            selection=SELECTIONS[self.source],
            councils=None,
        )
        token = self.signer.mint(audience=self.source, ask=ask, fields=self.plan.fields, body=body)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
            "x-welfare-hub-spans": "1",
        }
        return body, headers

    async def call(self, session: aiohttp.ClientSession, url: str, nino: str) -> tuple[int, Any]:
        body, headers = self.request(nino)
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, orjson.loads(await response.read())


def _revision(checkout: Path) -> str:
    """The checkout's commit, and whether its tracked files differ from it."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run([*git, "status", "--porcelain", "-uno"], capture_output=True, text=True, check=False)
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _log_errors(log: Path) -> dict[str, int]:
    """The exception types a subgraph logged (why a call was not answered: the store full, say)."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            found.update(set(re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", line)))
    return dict(found)


def _answer(payload: Any) -> Any:
    """The answer without its spans (ids and times differ from call to call)."""
    out = dict(payload)
    extensions = dict(out.pop("extensions", None) or {})
    extensions.pop("spans", None)
    if extensions:
        out["extensions"] = extensions
    return out


async def _same_answers(caller: Caller, session: aiohttp.ClientSession, targets: list[Target], n: int) -> int:
    """How many of ``n`` NINOs both subgraphs answered with the same JSON (each a 200 with data)."""
    same = 0
    for nino in caller.ninos[:n]:
        answers = []
        for target in targets:
            status, payload = await caller.call(session, target.url, nino)
            answers.append((status, _answer(payload)))
        (s0, a0), (s1, a1) = answers
        if s0 == s1 == 200 and a0 == a1 and not a0.get("errors") and a0["data"]["_entities"][0] is not None:
            same += 1
    return same


async def _block(caller: Caller, session: aiohttp.ClientSession, target: Target, calls: int, c: int) -> dict[str, Any]:
    latencies: list[float] = []
    bad: Counter[str] = Counter()
    queue = iter(range(calls))

    async def worker() -> None:
        for _ in queue:
            nino = caller.ninos[caller.rng.randrange(len(caller.ninos))]
            start = time.perf_counter()
            status, payload = await caller.call(session, target.url, nino)
            latencies.append(time.perf_counter() - start)
            if status != 200 or payload.get("errors") or not (payload.get("data") or {}).get("_entities"):
                codes = sorted({str((e.get("extensions") or {}).get("code")) for e in payload.get("errors") or []})
                bad[f"{status} {','.join(codes) or 'no data'}"] += 1

    pid = target.process.pid
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    wall, cpu = time.perf_counter() - wall, cpu_seconds(pid) - cpu
    latencies.sort()
    return {
        "calls": calls,
        "bad": sum(bad.values()),
        "bad_answers": dict(bad),
        "calls_per_s": calls / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "cpu_ms_per_call": 1000 * cpu / calls,
    }


async def _ninos(settings: Settings, source: str, limit: int = 500) -> list[str]:
    conn = await asyncpg.connect(migration_url(settings, _STORE[source]))
    try:
        rows = await conn.fetch(
            f"SELECT DISTINCT nino FROM {_TABLE[source]} WHERE nino IS NOT NULL ORDER BY nino LIMIT $1",
            limit,
        )
    finally:
        await conn.close()
    ninos = [r["nino"] for r in rows]
    random.Random(7).shuffle(ninos)
    return ninos


async def _ready(session: aiohttp.ClientSession, target: Target, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.post(target.url, data=b"{}") as response:
                if response.status in {400, 401}:
                    return
        if target.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {target.label} subgraph did not start")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _stores(database_url: str, people: int) -> AsyncIterator[Settings]:
    settings, _ = await seeded_stores(database_url, people)
    try:
        yield settings
    finally:
        await drop_stores(settings)
        shutil.rmtree(settings.data_dir, ignore_errors=True)  # its keys and the subgraphs' logs


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "people": args.people,
        "calls": args.calls,
        "rounds": args.rounds,
        "before": f"{args.before.resolve()} at {_revision(args.before)}",
        "after": f"{args.after.resolve()} at {_revision(args.after)}",
        "sources": {},
    }
    async with _stores(args.database_url, args.people) as settings:
        keys = ensure_keys(settings.data_dir)
        issuer_key = IssuerKey.load(keys.assertion)
        signer = AssertionSigner(issuer_key.private_key, issuer_key.kid, issuer=settings.assertion_issuer)
        secret = secrets.token_hex(32)
        for source in args.source:
            env = {
                "WELFARE_SUBGRAPH_DATABASE_URL": migration_url(settings, _STORE[source]),
                "WELFARE_SUBGRAPH_HUB_JWKS": str(keys.assertion_jwks),
                "WELFARE_SUBGRAPH_HUB_ISSUER": settings.assertion_issuer,
                "WELFARE_SUBGRAPH_SECRET": secret,
            }
            caller = Caller(source, signer, await _ninos(settings, source))
            folder = settings.data_dir
            with (
                _subgraph("before", args.before.resolve(), source, env, folder / f"before-{source}.log") as before,
                _subgraph("after", args.after.resolve(), source, env, folder / f"after-{source}.log") as after,
            ):
                targets = [before, after]
                connector = aiohttp.TCPConnector(limit=64)
                async with aiohttp.ClientSession(connector=connector) as session:
                    for target in targets:
                        await _ready(session, target)
                        print(f"{source} {target.label}: pid {target.process.pid} at {target.url}", flush=True)
                    same_before = await _same_answers(caller, session, targets, args.check)
                    for target in targets:  # warm-up: caches, pools, the JIT-less interpreter's own
                        await _block(caller, session, target, args.warmup, 8)
                    rows: list[dict[str, Any]] = []
                    for r in range(args.rounds):
                        for c in args.concurrency:
                            for target in targets if r % 2 == 0 else targets[::-1]:
                                row = await _block(caller, session, target, args.calls, c)
                                rows.append({"round": r + 1, "concurrency": c, "target": target.label, **row})
                                print(source, rows[-1], flush=True)
                    same_after = await _same_answers(caller, session, targets, args.check)
            logged = {t: _log_errors(folder / f"{t}-{source}.log") for t in ("before", "after")}
            results["sources"][source] = {
                "document": caller.plan.query,
                "same_answers_before": same_before,
                "same_answers_after": same_after,
                "checked": args.check,
                "logged_errors": logged,
                "rows": rows,
            }
    return results


def _table(results: dict[str, Any]) -> str:
    lines = [
        "| source | round | c | before calls/s | after calls/s | before CPU ms/call | after CPU ms/call | after/before CPU "
        "| before p50/p99 ms | after p50/p99 ms | bad (before/after) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for source, found in results["sources"].items():
        pairs: dict[tuple[int, int], dict[str, dict[str, float]]] = {}
        for row in found["rows"]:
            pairs.setdefault((row["round"], row["concurrency"]), {})[row["target"]] = row
        for (r, c), pair in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            b, a = pair["before"], pair["after"]
            lines.append(
                f"| {source} | {r} | {c} | {b['calls_per_s']:.0f} | {a['calls_per_s']:.0f} | "
                f"{b['cpu_ms_per_call']:.2f} | {a['cpu_ms_per_call']:.2f} | "
                f"{a['cpu_ms_per_call'] / b['cpu_ms_per_call']:.2f}x | "
                f"{b['p50_ms']:.1f}/{b['p99_ms']:.1f} | {a['p50_ms']:.1f}/{a['p99_ms']:.1f} | {b['bad']:.0f}/{a['bad']:.0f} |"
            )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--before", type=Path, required=True, help="a checkout with its own .venv")
    parser.add_argument("--after", type=Path, required=True, help="a checkout with its own .venv")
    parser.add_argument("--source", action="append", choices=sorted(_ENTITY), help="repeat for several")
    parser.add_argument("--concurrency", type=lambda v: [int(c) for c in v.split(",")], default=[1, 32])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--calls", type=int, default=1500, help="calls per timed block")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--check", type=int, default=20, help="NINOs both must answer alike, before and after")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    args.source = args.source or ["dwp"]
    results = await _run(args)
    checks = "; ".join(
        f"{s}: {f['same_answers_before']}/{f['checked']} and {f['same_answers_after']}/{f['checked']} NINOs answered "
        f"alike by both before and after the timed blocks; exceptions the subgraphs logged: {f['logged_errors']}"
        for s, f in results["sources"].items()
    )
    write_result(
        "subgraph-cpu",
        "Reference subgraph CPU per _entities call, two checkouts interleaved",
        this_command("bench.subgraph_cpu"),
        [
            f"{results['people']} synthetic people; {results['calls']} calls per block; one representation by NINO "
            "a call, the care-charging document the hub sends, a fresh signed assertion each call, traceparent and "
            "x-welfare-hub-spans: 1 as a tracing hub sends them. CPU: the subgraph process alone, /proc "
            "utime+stime. Blocks interleaved before/after (order swapped each round) on a shared 2-core machine.",
            f"Before: {results['before']}. After: {results['after']}.",
            checks,
        ],
        _table(results),
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
