"""The link build in one process against the same build split into partitions, on the same seeded sources.

    python -m bench.partitions --people 100000 [--configs 1x2 2x1 2x2] [--chunk 2000] [--database-url URL] [--keep]

Seeds fresh stores (a random prefix), trains one model, then, for each configuration PxW (P partitions, each a
`welfare-hub link build --partition I/P --workers W` process, all started at once; 1x2 is the unpartitioned
`welfare-hub link build --workers 2`), forgets the link index and builds it again from nothing. Each process
runs under `/usr/bin/time -v`: its wall time, CPU (its own and its forked workers') and the peak RSS of its
largest process; the process tree's RSS is also sampled (every 0.25 s, the sum over the build and its workers,
shared copy-on-write pages counted in each). The configuration's wall time is from the first start to the
last exit. After each, the link index and the review queue are compared with the first configuration's.

On a machine with fewer cores than P x W the processes share them: compare configurations of equal P x W for
the cost of splitting (each partition reads and holds the whole spine), and read CPU per process for what a
pod of its own would need.
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
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.demo import ensure_keys, seed_sources
from hub.ops.migrate import drop_stores, migration_url

ROOT = Path(__file__).resolve().parents[1]
_INDEX = "SELECT source, source_record_id, band, person_key, method, probability FROM hub.link"
_QUEUE = "SELECT source, source_record_id, candidate_person, status, probability FROM hub.review_item"


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


def _config(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)x(\d+)", text)
    if found is None or int(found[1]) < 1 or int(found[2]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not PxW (P partitions of W workers each), as in 2x1")
    return int(found[1]), int(found[2])


class _TreeRss:
    """The summed RSS of some processes and all their descendants, sampled until stopped: its peak."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = set(roots)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> _TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            parents: dict[int, int] = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
            tree, grew = set(self.roots), True
            while grew:
                more = {pid for pid, parent in parents.items() if parent in tree and pid not in tree}
                tree |= more
                grew = bool(more)
            total = 0
            for pid in tree:
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
                except (OSError, IndexError, ValueError):
                    continue
            self.peak = max(self.peak, total)


def _run_config(partitions: int, workers: int, chunk: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """Every partition's process started at once, each under /usr/bin/time -v; their figures when all exit."""
    started = time.perf_counter()
    procs = []
    for index in range(partitions):
        split = ["--partition", f"{index}/{partitions}"] if partitions > 1 else []
        stats = logs / f"{partitions}x{workers}-{index}.time"
        command = [sys.executable, "-m", "hub", "link", "build", "--workers", str(workers), "--chunk", str(chunk)]
        out = (logs / f"{partitions}x{workers}-{index}.out").open("w")
        err = (logs / f"{partitions}x{workers}-{index}.err").open("w")
        proc = subprocess.Popen(
            ["/usr/bin/time", "-v", "-o", str(stats), *command, *split], env=env, stdout=out, stderr=err, cwd=ROOT
        )
        procs.append((index, proc, stats, out, err, time.perf_counter()))
    per_process = []
    with _TreeRss([p.pid for _, p, *_ in procs]) as tree:
        for index, proc, stats, out, err, began in procs:
            code = proc.wait()
            ended = time.perf_counter()
            out.close()
            err.close()
            if code != 0:
                raise SystemExit(f"partition {index}/{partitions} exited {code}: see {logs}")
            text = stats.read_text()
            report = json.loads((logs / f"{partitions}x{workers}-{index}.out").read_text())
            per_process.append(
                {
                    "partition": f"{index}/{partitions}",
                    "wall_seconds": _seconds(text) or ended - began,
                    "cpu_seconds": _field(text, "User time (seconds)") + _field(text, "System time (seconds)"),
                    "peak_rss_mb": _field(text, "Maximum resident set size (kbytes)") / 1024,
                    "ended_the_run": report["run_finished"],
                    "decided": sum(
                        n for counts in report["counts"].values() for key, n in counts.items() if key != "unchanged"
                    ),
                    "review": report["review"],
                }
            )
    return {
        "partitions": partitions,
        "workers_per_process": workers,
        "wall_seconds": time.perf_counter() - started,
        "tree_peak_rss_mb": tree.peak / 2**20,
        "processes": per_process,
    }


def _field(text: str, name: str) -> float:
    found = re.search(rf"{re.escape(name)}: ([\d.]+)", text)
    return float(found[1]) if found else 0.0


def _seconds(text: str) -> float | None:
    found = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    if found is None:
        return None
    return int(found[1] or 0) * 3600 + int(found[2]) * 60 + float(found[3])


async def _index(settings: Settings) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        return {tuple(r) for r in await hub.fetch(_INDEX)}, {tuple(r) for r in await hub.fetch(_QUEUE)}
    finally:
        await hub.close()


async def _forget(settings: Settings) -> None:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        await hub.execute("TRUNCATE hub.review_item, hub.link, hub.link_run CASCADE")
    finally:
        await hub.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--configs", type=_config, nargs="+", default=[(1, 2), (2, 1), (2, 2)], metavar="PxW")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded stores")
    args = parser.parse_args()

    from hub.ops.linking import save_model, train_model

    data_dir = Path(tempfile.mkdtemp(prefix="wh-partitions-"))
    logs = data_dir / "logs"
    logs.mkdir()
    prefix = f"lp{os.getpid()}_"
    settings = _settings(args.database_url, prefix, data_dir)
    assert settings.keys_path is not None
    assert settings.link_model_path is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))} | {
        "DATABASE_URL": args.database_url,
        "WELFARE_HUB_DB_PREFIX": prefix,
        "WELFARE_HUB_DATA_DIR": str(data_dir),
        "WELFARE_HUB_KEYS": str(settings.keys_path),
        "WELFARE_HUB_LINK_MODEL": str(settings.link_model_path),
    }
    results: dict[str, Any] = {"people": args.people, "chunk": args.chunk, "cores": os.cpu_count()}
    try:
        t0 = time.perf_counter()
        results["records"] = await seed_sources(settings, people=args.people, seed=21)
        results["seed_seconds"] = time.perf_counter() - t0
        save_model(await train_model(settings, sample=min(args.people, 100_000)), settings.link_model_path)
        first: tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]] | None = None
        runs = []
        for partitions, workers in args.configs:
            await _forget(settings)
            run = _run_config(partitions, workers, args.chunk, env, logs)
            index, queue = await _index(settings)
            first = first or (index, queue)
            run.update(
                links=len(index),
                review_items=len(queue),
                identical_to_first=index == first[0] and queue == first[1],
                ended_once=sum(p["ended_the_run"] for p in run["processes"]) == 1,
            )
            runs.append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "processes"}), flush=True)
        results["runs"] = runs
    finally:
        if not args.keep:
            await drop_stores(settings)
    rows = [
        "| configuration | wall s | process | its wall s | its CPU s | its peak RSS MB (largest process) | decided | tree peak RSS MB | identical to first | ended once |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        label = f"{run['partitions']} partition{'s' if run['partitions'] > 1 else ''} x {run['workers_per_process']} workers"
        for i, p in enumerate(run["processes"]):
            head = [label, f"{run['wall_seconds']:.1f}"] if i == 0 else ["", ""]  # one configuration, one wall time
            tail = (
                [
                    f"{run['tree_peak_rss_mb']:.0f}",
                    "yes" if run["identical_to_first"] else "NO",
                    "yes" if run["ended_once"] else "NO",
                ]
                if i == 0
                else ["", "", ""]
            )
            rows.append(
                "| "
                + " | ".join(
                    [
                        *head,
                        p["partition"],
                        f"{p['wall_seconds']:.1f}",
                        f"{p['cpu_seconds']:.1f}",
                        f"{p['peak_rss_mb']:.0f}",
                        f"{p['decided']:,}",
                        *tail,
                    ]
                )
                + " |"
            )
    write_result(
        "partitions",
        f"Link build, whole vs partitioned: {args.people:,} people ({os.cpu_count()} cores)",
        this_command("bench.partitions"),
        [
            "Each configuration builds the link index from nothing (the index, queue and runs forgotten first) with "
            "`welfare-hub link build` (`--partition I/P` in P processes started together), same seeded data (seed 21), "
            "same trained model, chunk " + f"{args.chunk}. Per process: `/usr/bin/time -v` (CPU includes its forked "
            "workers; peak RSS is its largest single process). Tree peak RSS: the summed RSS of all the configuration's "
            "processes and workers, sampled every 0.25 s (copy-on-write pages shared with the workers counted in each).",
            "Every partition reads and holds the whole spine (it decides its records against all of it): splitting "
            "divides the deciding, not the spine's reading or its memory. On this machine the processes share "
            f"{os.cpu_count()} cores: compare configurations with the same partitions x workers.",
        ],
        "\n".join(rows),
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
