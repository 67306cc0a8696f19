"""What the HTTP benchmarks share: the hub as its own uvicorn process, ready before the clock starts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp

from hub.access.orgs import Organisation
from hub.config import Settings
from hub.ops.demo import ensure_keys, seed_sources
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import connect_store
from hub.records.orgs import upsert

#: The organisation the HTTP benchmarks call as: a care-finance team, for the care-charging query.
BENCH_ORG = "bench-council"


def cpu_seconds(pid: int) -> float:
    """The CPU (user + system) process ``pid`` has used so far, from /proc: what every bench's figure of CPU
    per request is the difference of."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )


async def seeded_stores(database_url: str, people: int) -> tuple[Settings, Path]:
    """Fresh stores under a random prefix, seeded with ``people`` synthetic people; the settings, and the
    demo token issuer's key file."""
    data_dir = Path(tempfile.mkdtemp(prefix="wh-bench-"))
    keys = ensure_keys(data_dir)
    settings = Settings(
        database_url=database_url,
        db_prefix=f"bench{uuid.uuid4().hex[:6]}_",
        data_dir=data_dir,
        jwks_path=keys.jwks,
        keys_path=keys.key_ring,
    )
    await seed_sources(settings, people=people, seed=11)
    return settings, keys.issuer


def hub_env(settings: Settings) -> dict[str, str]:
    """What a hub process needs to find these stores."""
    assert settings.database_url is not None
    return {
        "DATABASE_URL": settings.database_url,
        "WELFARE_HUB_DB_PREFIX": settings.db_prefix,
        "WELFARE_HUB_DATA_DIR": str(settings.data_dir),
        # Checked on every request, never refusing a throughput run's one user (bench/abuse.py: the shipped).
        "WELFARE_HUB_RATE_LIMITS": str(Path(__file__).resolve().parent / "ratelimits.toml"),
    }


async def bench_caller(settings: Settings, issuer: Path, *, council: str | None) -> str:
    """Register the benchmarks' organisation (serving ``council``'s area, or national when None) and mint
    its token for the care-charging purpose."""
    async with connect_store(settings, "hub") as hub:
        await upsert(
            hub,
            [
                Organisation(
                    BENCH_ORG, "Benchmarks", "council_care_finance", council_code=council, national=council is None
                )
            ],
        )
    return IssuerKey.load(issuer).mint(
        issuer=settings.issuer,
        audience=settings.audience,
        org=BENCH_ORG,
        org_type="council_care_finance",
        user="bench",
        purposes=["CARE_CHARGING_DOMICILIARY"],
    )


@contextlib.asynccontextmanager
async def hub_server(
    env: Mapping[str, str], *, ready_seconds: float = 30, module: str = "hub"
) -> AsyncIterator[tuple[str, int]]:
    """Start ``python -m <module> serve`` (the hub, or ``bench.unguarded``) with ``env`` on a free port; yield
    (GraphQL URL, pid) once /readyz is 200."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", module, "serve"],
        env={**os.environ, **env, "WELFARE_HUB_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(int(ready_seconds * 10)):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the hub did not become ready")
        yield f"http://127.0.0.1:{port}/graphql", server.pid
    finally:
        server.terminate()
        server.wait(10)
