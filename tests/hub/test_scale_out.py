"""The hub scaled out on one PostgreSQL, as real processes over real HTTP: one ``welfare-hub serve --workers 2``
and one more ``welfare-hub serve`` on another port, loaded at once. Every answer's audit record is in the
one chain exactly once, at the place its receipt names, and the chain verifies."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hub.audit.checkpoints import AuditKeys
from hub.audit.verify import verify_database
from hub.config import Settings
from tests import people as P
from tests.conftest import free_port

QUERY = "query Scale($nino: String!) { person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId socialCare { overnightCareRequired } } }"


def hub_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    paths = {
        "WELFARE_HUB_JWKS": settings.jwks_path,
        "WELFARE_HUB_KEYS": settings.keys_path,
        "WELFARE_HUB_AUDIT_KEYS": settings.audit_keys_path,
        "WELFARE_HUB_ASSERTION_KEY": settings.assertion_key_path,
        "WELFARE_HUB_RATE_LIMITS": settings.rate_limits_path,
        "WELFARE_HUB_DATA_DIR": settings.data_dir,
    }
    return {
        **{k: str(v) for k, v in paths.items() if v is not None},
        "DATABASE_URL": settings.database_url,
        "WELFARE_HUB_DB_PREFIX": settings.db_prefix,
        "WELFARE_HUB_ISSUER": settings.issuer,
        "WELFARE_HUB_AUDIENCE": settings.audience,
        "WELFARE_HUB_ORG_CACHE_SECONDS": "0",
        "WELFARE_HUB_USER_IN_FLIGHT": "1024",  # one user sends all of it; the cap is not what is tested
        "WELFARE_HUB_POOL_SIZE": "2",  # three hubs on a server whose connections other tests share
    }


@contextlib.asynccontextmanager
async def hub_process(env: Mapping[str, str], *args: str) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """``welfare-hub serve`` in its own process on a free port; its base URL once /readyz answers 200."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 (started once, not waited on in the loop)
        [sys.executable, "-m", "hub", "serve", *args],
        env={**os.environ, **env, "WELFARE_HUB_PORT": str(port), "WELFARE_HUB_HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(600):
                assert process.poll() is None, "the hub process exited while starting"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the hub process never became ready")
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)


def spawned_workers(pid: int) -> int:
    """How many of a process's children are multiprocessing's spawned workers (its resource tracker is not)."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return sum(b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children)


async def test_two_processes_one_with_two_workers_lose_and_duplicate_no_audit_record(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    env = hub_env(settings)
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="scale-out-hb")
    async with hub_process(env, "--workers", "2") as (two_workers, supervisor), hub_process(env) as (single, _):
        assert spawned_workers(supervisor.pid) == 2
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            async def ask(i: int) -> dict[str, Any]:
                url = (two_workers, single)[i % 2]
                r = await client.post(
                    f"{url}/graphql",
                    json={"query": QUERY, "variables": {"nino": P.BADGE_DLA}},
                    headers={"Authorization": f"Bearer {t}"},
                )
                assert r.status_code == 200, r.text
                body: dict[str, Any] = r.json()
                return body

            bodies = await asyncio.gather(*(ask(i) for i in range(200)))  # 100 at a time per connection limit
    assert all(b["data"]["person"]["socialCare"] == {"overnightCareRequired": True} for b in bodies)
    receipts = [b["extensions"]["auditReceipt"] for b in bodies]
    rows = await admin["hub"].fetch(
        "SELECT request_id::text AS request_id, seq FROM hub.audit_event WHERE caller_org = 'scale-out-hb'"
    )
    in_chain = collections.Counter(r["request_id"] for r in rows)
    assert len(rows) == 200  # one record per request: none lost
    assert max(in_chain.values()) == 1  # none duplicated
    assert {r["requestId"]: r["seq"] for r in receipts} == {r["request_id"]: r["seq"] for r in rows}
    keys = AuditKeys.load(settings.audit_keys_path)  # type: ignore[arg-type]
    summary = (await verify_database(admin["hub"], keys.public)).summary()
    assert summary["ok"], summary


def test_workers_come_from_the_environment_or_the_command_line() -> None:
    assert Settings.from_environ({}).workers == 1
    assert Settings.from_environ({"WELFARE_HUB_WORKERS": "3", "WELFARE_HUB_POOL_SIZE": "4"}).workers == 3
    assert Settings.from_environ({"WELFARE_HUB_POOL_SIZE": "4"}).pool_size == 4
    with pytest.raises(ValueError, match="WELFARE_HUB_WORKERS"):
        Settings.from_environ({"WELFARE_HUB_WORKERS": "0"})
