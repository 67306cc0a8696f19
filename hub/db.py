"""The hub's PostgreSQL plumbing, defined once: how a pool is made, and what a database that does not
answer looks like.

When the hub database does not answer, a store method raises that store's own stable error (the caller
gets its code, never an internal error), and the driver's message, which may quote data, is logged by its
type only. Source adapters map the same failures to their own codes.

Kernel: importable by every part, importing only :mod:`linkage` of ours.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import asyncpg

from hub.errors import HubError, HubStoreUnavailable

__all__ = ["UNAVAILABLE", "create_store_pool", "hub_records", "unavailable_as"]

log = logging.getLogger("welfare_hub.stores")

#: What a database that is down, slow or refusing looks like from asyncpg.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)

P = ParamSpec("P")
T = TypeVar("T")


def unavailable_as(error: Callable[[], HubError]) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate a store method: a failure to reach the hub database becomes ``error()``."""

    def decorate(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(method)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await method(*args, **kwargs)
            except UNAVAILABLE as e:
                raised = error()
                log.warning("%s: %s", raised.extensions["code"], type(e).__name__)
                raise raised from e

        return guarded

    return decorate


#: For the stores with no error of their own (interests, corrections, complaints).
hub_records = unavailable_as(lambda: HubStoreUnavailable("the hub's records cannot be read or written now"))


def _decode_json(value: str) -> Any:
    # Money stays exact: numeric columns aggregated to JSON come back as Decimal, not float.
    return json.loads(value, parse_float=Decimal)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(json_type, encoder=json.dumps, decoder=_decode_json, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's server-side reset (a round trip per release).

    Safe because the hub never changes session state on these connections: no SET, LISTEN, advisory
    lock, prepared cursor or open transaction survives a call (asyncpg still waits out a cancelled query
    and drops a broken connection itself).
    """


async def create_store_pool(
    dsn: str,
    *,
    max_size: int = 10,
    on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """A lazily connecting pool: the hub starts, and reports not-ready, while a source is down."""

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if on_connect is not None:
            await on_connect(conn)

    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        init=init,
        reset=_keep_session,
        max_inactive_connection_lifetime=60.0,
    )
    assert pool is not None
    return pool
