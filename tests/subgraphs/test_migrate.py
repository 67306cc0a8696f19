"""A subgraph migrates its own store: the source's migrations, its access log included, idempotently."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from hub.config import Settings
from tests.subgraphs.conftest import SECRET, db_url


def _migrate(url: str, source: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WELFARE_SUBGRAPH_DATABASE_URL": url, "WELFARE_SUBGRAPH_SECRET": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "hub", "subgraph", source, "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_fresh_store_is_migrated_by_its_subgraph(stores: Settings, tmp_path: Path) -> None:
    assert stores.database_url is not None
    name = f"{stores.db_prefix}fresh_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(stores.admin_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = db_url(stores.database_url, name, None)
            first = _migrate(url, "social-care")
            assert first.returncode == 0, first.stderr
            assert (
                "applied ['0001_init', '0002_blocking_indexes', '0003_access_log', '0004_dob_nullable', '0005_names']"
                in first.stdout
            )
            again = _migrate(url, "social-care")
            assert again.returncode == 0, again.stderr
            assert "applied nothing new" in again.stdout
            conn = await asyncpg.connect(url)
            try:
                assert await conn.fetchval("SELECT to_regclass('social_care.hub_access_log')::text") is not None
            finally:
                await conn.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
