"""The embedded PostgreSQL starts from the pip-installed wheel, serves asyncpg over TCP,
keeps its data across restarts and stops cleanly (as root or as a normal user)."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
import pytest

from hub.ops.embedded import EmbeddedPostgresError, start_embedded

pytestmark = pytest.mark.embedded


async def _fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_start_query_restart_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    pg = start_embedded(data_dir)
    try:
        assert pg.data_dir == data_dir.resolve()
        assert pg.dsn.startswith("postgresql://postgres@127.0.0.1:")
        assert not pg.dsn.endswith(":5432/postgres")  # never the system server's port

        version = await _fetchval(pg.dsn, "select version()")
        assert isinstance(version, str)
        assert version.startswith("PostgreSQL 18.")
        await _fetchval(pg.dsn, "create database embedded_probe")

        # A second start while it runs reuses the server as it is.
        assert start_embedded(data_dir) == pg

        pg.stop()
        pg.stop()  # stopping a stopped server is a no-op

        pg = start_embedded(data_dir)
        found = await _fetchval(pg.dsn, "select count(*) from pg_database where datname = 'embedded_probe'")
        assert found == 1
    finally:
        pg.stop()


async def test_asking_for_another_port_restarts_on_it(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]

    first = start_embedded(tmp_path / "pgdata")
    try:
        moved = start_embedded(tmp_path / "pgdata", port=port)
        assert moved.dsn == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        assert await _fetchval(moved.dsn, "select current_setting('port')::int") == port
    finally:
        first.stop()


def test_a_non_cluster_directory_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(EmbeddedPostgresError, match="must be empty or absent"):
        start_embedded(tmp_path)
