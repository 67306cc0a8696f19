"""The link build across the boundary against the in-memory build, on the same seeded sources.

    python -m bench.linkage.federated --people 100000 [--database-url URL] [--keep]

Seeds fresh stores (a random prefix), trains one model, then builds the link index three ways in turn,
each in its own process so its peak memory is its own (``/usr/bin/time -v``'s maximum resident set):

- ``memory``: ``welfare-hub link build`` as today (the whole DWP spine read into the hub, two workers);
- ``direct``: the federated build (hub.ops.linking.federated) over the direct adapters;
- ``subgraph``: the federated build over the three sources' subgraph processes (real HTTP, assertions).

After each, the council records' links are read back; the report gives wall time, CPU and peak memory of
the builder, the subgraphs' CPU, how many links are identical to the in-memory build's, precision and
recall against the synthetic truth, and how many DWP records each build read (the federated builds never
read DWP's population: only the candidates of the records being linked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.demo import ensure_keys, seed_sources
from hub.ops.migrate import drop_stores, migration_url
from linkage.link import person_key_for

_COUNCIL_ROWS = "SELECT source, source_record_id, band, person_key FROM hub.link WHERE source <> 'dwp'"


def _settings(database_url: str, prefix: str, data_dir: Path) -> Settings:
    keys = ensure_keys(data_dir)
    return Settings(
        database_url=database_url,
        db_prefix=prefix,
        data_dir=data_dir,
        jwks_path=keys.jwks,
        keys_path=keys.key_ring,
        assertion_key_path=keys.assertion,
        link_model_path=data_dir / "link-model.json",
    )


# -- one build, in its own process -----------------------------------------------------------------------


async def _one(mode: str, settings: Settings, chunk: int) -> dict[str, Any]:
    from hub.ops.linking import build_links, load_model
    from hub.ops.linking.federated import build_links_federated
    from hub.ops.linking.sources import open_sources
    from linkage import Thresholds

    assert settings.link_model_path is not None
    model = load_model(settings.link_model_path)
    started = time.perf_counter()
    if mode == "memory":
        await build_links(
            settings, model=model, thresholds=Thresholds(), chunk=5000, progress=False, workers=2, resume=False
        )
        hub = await asyncpg.connect(migration_url(settings, "hub"))
        try:
            read = int(await hub.fetchval("SELECT count(*) FROM hub.link WHERE source = 'dwp'"))
        finally:
            await hub.close()
        return {"seconds": time.perf_counter() - started, "dwp_records_read": read}
    if mode == "direct":
        async with open_sources(settings) as (dwp, hb, sc):
            run = await build_links_federated(
                settings, dwp, [hb, sc], model=model, thresholds=Thresholds(), chunk=chunk, resume=False, force=True
            )
        return {"seconds": run.seconds, "dwp_records_read": run.spine_records_read}
    from hub.ops.issuer import IssuerKey
    from hub.ops.subgraphs import running_subgraphs
    from resolvers.sources.assertion import AssertionSigner
    from resolvers.sources.remote import aclose_sources, subgraph_sources

    keys = ensure_keys(settings.data_dir)
    key = IssuerKey.load(keys.assertion)
    port = int(os.environ.get("BENCH_SUBGRAPH_PORT", "8711"))
    with running_subgraphs(settings, jwks=keys.assertion_jwks, first_port=port, folder=settings.data_dir) as subs:
        sources = subgraph_sources(
            {n: s.url for n, s in subs.items()},
            signer=AssertionSigner(key.private_key, key.kid, issuer=settings.assertion_issuer),
            timeout=120.0,
        )
        pids = [s.process.pid for s in subs.values()]
        cpu0 = sum(_cpu(p) for p in pids)
        try:
            run = await build_links_federated(
                settings,
                sources.dwp,
                [sources.hb, sources.social_care],
                model=model,
                thresholds=Thresholds(),
                chunk=chunk,
                resume=False,
                force=True,
            )  # type: ignore[arg-type]
        finally:
            await aclose_sources(sources)
        spent = sum(_cpu(p) for p in pids) - cpu0
    return {"seconds": run.seconds, "dwp_records_read": run.spine_records_read, "subgraphs_cpu_seconds": spent}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the whole comparison --------------------------------------------------------------------------------


async def _links(settings: Settings) -> dict[tuple[str, str], tuple[str, Any]]:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        return {
            (r["source"], r["source_record_id"]): (r["band"], r["person_key"]) for r in await hub.fetch(_COUNCIL_ROWS)
        }
    finally:
        await hub.close()


async def _forget(settings: Settings) -> None:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        await hub.execute("TRUNCATE hub.review_item, hub.link, hub.link_run CASCADE")
    finally:
        await hub.close()


async def _truth(settings: Settings) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for source, store, table, column, prefix in (
        ("hb", "src_hb", "hb.claim_person", "record_ref", "hb:"),
        ("social_care", "src_social_care", "social_care.client", "client_id", "sc:"),
    ):
        conn = await asyncpg.connect(migration_url(settings, store))  # type: ignore[arg-type]
        try:
            for r in await conn.fetch(
                f"SELECT t.{column} AS rid, r.true_person_id FROM {table} t "
                f"JOIN synth_truth.record_identity r ON r.record_id = $1 || t.{column}",
                prefix,
            ):
                out[(source, r["rid"])] = str(r["true_person_id"])
        finally:
            await conn.close()
    return out


def _timed(mode: str, env: dict[str, str], chunk: int) -> dict[str, Any]:
    """Run one build in a child process under /usr/bin/time -v: its own figures plus peak RSS and CPU."""
    out = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "bench.linkage.federated", "--one", mode, "--chunk", str(chunk)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", out.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", out.stderr)
    result["peak_rss_mb"] = int(rss.group(1)) / 1024 if rss else None
    result["builder_cpu_seconds"] = float(user.group(1)) + float(system.group(1)) if user and system else None
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded stores")
    parser.add_argument("--one", choices=["memory", "direct", "subgraph"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        settings = _settings(
            args.database_url, os.environ["WELFARE_HUB_DB_PREFIX"], Path(os.environ["WELFARE_HUB_DATA_DIR"])
        )
        print(json.dumps(await _one(args.one, settings, args.chunk)))
        return

    from hub.ops.linking import save_model, train_model

    data_dir = Path(tempfile.mkdtemp(prefix="wh-link-"))
    prefix = f"lf{os.getpid()}_"
    settings = _settings(args.database_url, prefix, data_dir)
    env = {"WELFARE_HUB_DB_PREFIX": prefix, "WELFARE_HUB_DATA_DIR": str(data_dir), "DATABASE_URL": args.database_url}
    try:
        t0 = time.perf_counter()
        counts = await seed_sources(settings, people=args.people, seed=21)
        seeded = time.perf_counter() - t0
        model = await train_model(settings, sample=min(args.people, 100_000))
        assert settings.link_model_path is not None
        save_model(model, settings.link_model_path)
        truth = await _truth(settings)
        results: dict[str, Any] = {
            "people": args.people,
            "seed_seconds": seeded,
            "records": counts,
            "chunk": args.chunk,
        }
        links: dict[str, dict[tuple[str, str], tuple[str, Any]]] = {}
        for mode in ("memory", "direct", "subgraph"):
            await _forget(settings)
            results[mode] = _timed(mode, env, args.chunk)
            links[mode] = await _links(settings)
            got = links[mode]
            right = sum(b == "link" and p == person_key_for(truth[k]) for k, (b, p) in got.items() if k in truth)
            wrong = sum(b == "link" and p != person_key_for(truth[k]) for k, (b, p) in got.items() if k in truth)
            results[mode].update(
                {
                    "council_records": len(got),
                    "linked_right": right,
                    "linked_wrong": wrong,
                    "recall": right / max(1, len(truth)),
                    "identical_to_memory": sum(got.get(k) == v for k, v in links["memory"].items()),
                }
            )
    finally:
        if not args.keep:
            await drop_stores(settings)
    population = args.people
    rows = [
        "| build | wall s | builder CPU s | subgraphs CPU s | peak RSS MB | DWP records read | identical to in-memory | right | wrong | recall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, label in (
        ("memory", "in memory (today)"),
        ("direct", "federated, direct adapters"),
        ("subgraph", "federated, over subgraphs"),
    ):
        r = results[mode]
        rows.append(
            f"| {label} | {r['seconds']:.1f} | {r['builder_cpu_seconds']:.1f} | {r.get('subgraphs_cpu_seconds', 0):.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['dwp_records_read']:,} of {population:,} | {r['identical_to_memory']:,} of {r['council_records']:,} | "
            f"{r['linked_right']:,} | {r['linked_wrong']} | {r['recall']:.4f} |"
        )
    write_result(
        "linkage-federated",
        f"Link build across the boundary vs in memory: {args.people:,} people",
        this_command("bench.linkage.federated"),
        [
            "Each build runs in its own process under `/usr/bin/time -v` (peak RSS is the builder's own; the in-memory "
            "build's two forked workers are not in its figure). Same seeded data (seed 21), same trained model.",
            "DWP records read: the in-memory build reads the whole spine; the federated builds count the distinct "
            "DWP records the candidate searches and NINO look-ups returned.",
        ],
        "\n".join(rows),
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
