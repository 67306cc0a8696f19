"""Every wait on a store pool is bounded when its database hangs: acquiring (connecting included), the
statement, a rollback after it, and the release of a connection whose statement was given up on, which is
terminated rather than waited for (a hung server never acknowledges a cancel request). The server holds
the same bounds on its side.

Each case hangs a real connection to the test PostgreSQL at a TCP proxy on loopback (tests/faults/proxy.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from tests.faults.proxy import FaultProxy

TIMEOUT = 0.5  # acquiring
STATEMENT = 2 * TIMEOUT  # a statement given no timeout of its own
#: What a loaded, shared machine may add to a bound.
MARGIN = 0.5
GUARD = 10.0


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[FaultProxy, asyncpg.Pool]]:
    proxy, url = await FaultProxy.for_url(settings.service_url("hub"))
    pool = await create_store_pool(url, acquire_timeout=TIMEOUT, statement_timeout=STATEMENT, max_size=2)
    try:
        yield proxy, pool
    finally:
        await proxy.forward()
        await asyncio.wait_for(pool.close(), 5)
        await proxy.close()


async def within(bound: float, work: object) -> float:
    started = time.monotonic()
    with pytest.raises((TimeoutError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError)):
        await work  # type: ignore[misc]
    elapsed = time.monotonic() - started
    assert elapsed < bound + MARGIN
    return elapsed


async def test_the_server_holds_the_bounds_too(proxied: tuple[FaultProxy, asyncpg.Pool]) -> None:
    _, pool = proxied
    async with pool.acquire() as conn:
        settings = dict(
            await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('statement_timeout', 'idle_in_transaction_session_timeout', 'tcp_keepalives_idle')"
            )
        )
    assert settings == {
        "statement_timeout": "1000",
        "idle_in_transaction_session_timeout": "1000",
        "tcp_keepalives_idle": "30",
    }
    # A statement that outlives it is stopped by the server, and the connection stays usable.
    with pytest.raises(asyncpg.QueryCanceledError):
        await pool.execute("SELECT pg_sleep(5)", timeout=10)
    assert await pool.fetchval("SELECT 1") == 1


async def test_a_statement_given_up_on_in_a_hang_costs_its_connection_not_the_hang(
    proxied: tuple[FaultProxy, asyncpg.Pool],
) -> None:
    async with asyncio.timeout(GUARD):  # on a hub whose waits are unbounded, fail rather than hang
        proxy, pool = proxied
        assert await pool.fetchval("SELECT 1") == 1  # an idle, healthy connection in the pool
        proxy.hang()
        # asyncio.timeout cancels the statement's wait; releasing the connection must not wait for the server.
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(TIMEOUT):
                await pool.fetchval("SELECT 1")
        assert time.monotonic() - started < TIMEOUT + MARGIN
        # The statement's own timeout: the same.
        await within(TIMEOUT, pool.fetchval("SELECT 1", timeout=TIMEOUT))

        # Nothing was left holding the pool: both its connections were given back (terminated).
        assert pool.get_idle_size() == pool.get_size()


async def test_a_transaction_caught_by_a_hang_rolls_back_without_waiting(
    proxied: tuple[FaultProxy, asyncpg.Pool],
) -> None:
    proxy, pool = proxied

    async def in_transaction(deadline: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")
            proxy.hang()  # mid-transaction: the statement, then the rollback, meet a hung server
            if deadline == "statement":
                await conn.execute("SELECT 1", timeout=TIMEOUT)
            else:
                async with asyncio.timeout(TIMEOUT):
                    await conn.execute("SELECT 1")

    async with asyncio.timeout(GUARD):  # on a hub whose waits are unbounded, fail rather than hang
        for deadline in ("statement", "caller"):
            await within(TIMEOUT, in_transaction(deadline))
            await proxy.forward()
        assert pool.get_idle_size() == pool.get_size()
        assert await pool.fetchval("SELECT 1") == 1


async def test_acquiring_in_a_hang_is_bounded(proxied: tuple[FaultProxy, asyncpg.Pool]) -> None:
    async with asyncio.timeout(GUARD):  # on a hub whose waits are unbounded, fail rather than hang
        proxy, pool = proxied
        proxy.hang()  # no connection yet: connecting hangs (the proxy accepts, the server never answers)
        await within(TIMEOUT, pool.fetchval("SELECT 1"))
        # With every slot taken by a hung connection attempt, still bounded.
        await asyncio.gather(*(within(TIMEOUT, pool.fetchval("SELECT 1")) for _ in range(4)))


async def test_the_pool_recovers_when_the_hang_ends(proxied: tuple[FaultProxy, asyncpg.Pool]) -> None:
    async with asyncio.timeout(GUARD):  # on a hub whose waits are unbounded, fail rather than hang
        proxy, pool = proxied
        assert await pool.fetchval("SELECT 1") == 1
        proxy.hang()
        # One caller gets the idle connection and waits out the statement bound; the others, connecting, the
        # acquire's.
        await asyncio.gather(*(within(STATEMENT, pool.fetchval("SELECT 1")) for _ in range(3)))
        await proxy.forward()
        assert [await pool.fetchval("SELECT $1::int", n) for n in range(5)] == list(range(5))
