"""The hub's PostgreSQL plumbing, defined once: how a pool is made, and what a database that does not
answer looks like.

Every wait on a pool is bounded, whether the database refuses or hangs (accepts and never answers):
getting a connection (connecting included), each statement (a client deadline and the server's own
``statement_timeout``), and giving the connection back, which never waits for a hung server (a connection
whose statement was given up on is terminated). The bounds are the pool's (:func:`create_store_pool`), so
every store that uses a pool has them; docs/timeouts.md lists them with their settings.

When the hub database does not answer, a store method raises that store's own stable error (the caller
gets its code, never an internal error), and the driver's message, which may quote data, is logged by its
type only. Source adapters map the same failures to their own codes.

Kernel: importable by every part, importing only :mod:`linkage` of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import asyncpg
from asyncpg.pool import PoolAcquireContext

from hub.errors import HubError, HubStoreUnavailable

__all__ = ["UNAVAILABLE", "Failing", "create_store_pool", "hub_records", "unavailable_as"]

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
    lock, prepared cursor or open transaction survives a call (a connection whose statement was given up on
    is terminated before it gets here: see :class:`_StoreConnection`).
    """


# -- every wait bounded ------------------------------------------------------------------------------
#
# asyncpg bounds a statement only when given a timeout, and then, when it expires (or the task waiting is
# cancelled, as asyncio.timeout does), it sends a CancelRequest over a second connection and waits for
# the server to acknowledge it before the connection can be used or released: Pool.release waits for it
# under asyncio.shield, with no limit unless the acquire had one. A server that refuses answers that at
# once; a hung one (a frozen host, a stuck volume, a black-holing network) never does, so the request
# that timed out stayed stuck until the hang ended and the pool's connections went with it. Here a
# statement given up on costs its connection instead: it is terminated, never waited for, and the server
# stops the statement itself (statement_timeout) if it is still there.


class _StoreConnection(asyncpg.Connection):
    """asyncpg's connection, except that a statement it gives up on drops the connection."""

    def _cancel_current_command(self, waiter: Any, cancel_waiter: Any = None) -> None:
        # asyncpg's protocol calls this (and only this) to cancel the statement in progress, after a
        # timeout or a cancelled wait. Terminate on the next turn of the loop, once the protocol has
        # finished marking itself cancelled: that completes its cancellation waiters, so nothing that
        # waits for them (a rollback, a release, a close) waits for the server.
        asyncio.get_running_loop().call_soon(self.terminate)


_GIVEN_UP = (TimeoutError, asyncio.CancelledError)


class _Lease(PoolAcquireContext):
    """``async with pool.acquire()``: a block left by a timeout or a cancellation terminates its
    connection before releasing it, so the release returns at once (the connection's state is unknown).

    Done here, synchronously, because the connection's own terminate (above) runs a turn later: a release
    begun in between would find its holder freed under it (asyncpg's InternalClientError)."""

    __slots__ = ()

    async def __aexit__(self, *exc: object) -> None:
        if isinstance(exc[0], type) and issubclass(exc[0], _GIVEN_UP) and self.connection is not None:
            with contextlib.suppress(asyncpg.InterfaceError):  # already released: terminated by the protocol
                self.connection.terminate()
        await super().__aexit__(*exc)


class _StorePool(asyncpg.Pool):
    """asyncpg's pool with a bounded acquire: ``acquire()`` without a timeout waits at most the pool's
    ``acquire_timeout`` (connecting included), and so do ``fetch``, ``execute`` and the rest, which
    acquire through it."""

    __slots__ = ("acquire_timeout",)
    acquire_timeout: float

    def acquire(self, *, timeout: float | None = None) -> _Lease:
        return _Lease(self, self.acquire_timeout if timeout is None else timeout)


#: Server-side keepalives (seconds): the server drops the sessions of a hub that vanished from the
#: network (a killed pod, a cut link) within about a minute, rather than the kernel's two hours.
_KEEPALIVES = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}


def _ms(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))


async def create_store_pool(
    dsn: str,
    *,
    acquire_timeout: float = 10.0,
    statement_timeout: float | None = None,
    max_size: int = 10,
    on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """A lazily connecting pool (the hub starts, and reports not-ready, while a store is down) on which no
    wait is unbounded.

    ``acquire_timeout`` bounds getting a connection (waiting for a free one, or connecting and setting it
    up; the service passes its settings, tools and tests may take the default). ``statement_timeout``
    (``acquire_timeout`` by default) is the longest a statement may run: held by the server
    (``statement_timeout``, and ``idle_in_transaction_session_timeout`` for a transaction left open) and by
    the client for every statement given no timeout of its own (asyncpg's ``command_timeout``: commits,
    rollbacks and closes too). A caller's own deadline (``asyncio.timeout``, ``timeout=``) applies
    within those; a statement given up on terminates its connection (see :class:`_StoreConnection`).
    """
    statement = acquire_timeout if statement_timeout is None else statement_timeout

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if on_connect is not None:
            await on_connect(conn)

    pool = _StorePool(
        dsn,
        min_size=0,
        max_size=max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=60.0,
        connect=None,
        setup=None,
        init=init,
        reset=_keep_session,
        loop=None,
        connection_class=_StoreConnection,
        record_class=asyncpg.Record,
        timeout=acquire_timeout,  # connecting: asyncpg.connect's own timeout
        command_timeout=statement,
        server_settings={
            "statement_timeout": _ms(statement),
            "idle_in_transaction_session_timeout": _ms(statement),
            **_KEEPALIVES,
        },
    )
    pool.acquire_timeout = acquire_timeout
    await pool  # min_size=0: opens nothing yet
    return pool


class Failing:
    """A background loop's failures, told once: when they start, when what fails changes, and when they end
    (not every round, which for a store down an hour was thousands of lines). While they last, the loop's
    :attr:`wait` doubles from ``every`` up to ``cap`` (or ``every``, when that is longer)."""

    def __init__(self, what: str, every: float, *, cap: float = 60.0, log: logging.Logger) -> None:
        self.what, self.every, self.cap, self.log = what, every, max(cap, every), log
        self.wait = every
        self.failure: str | None = None

    def failed(self, e: BaseException) -> None:
        failure = str(e.extensions["code"]) if isinstance(e, HubError) else type(e).__name__
        if failure != self.failure:
            self.log.warning(
                "%s failed: %s (retrying, with backoff; logged again when this changes)", self.what, failure
            )
        self.failure = failure
        self.wait = min(self.cap, self.wait * 2)

    def succeeded(self) -> None:
        if self.failure is not None:
            self.log.warning("%s recovered after %s", self.what, self.failure)
        self.failure, self.wait = None, self.every
