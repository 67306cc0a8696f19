"""What the hub's own stores share: when the hub database does not answer, a store method raises that
store's own stable error (the caller gets its code, never an internal error), and the driver's message,
which may quote data, is logged by its type only."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

from hub.errors import HubError, HubStoreUnavailable

__all__ = ["UNAVAILABLE", "hub_records", "unavailable_as"]

log = logging.getLogger("welfare_hub.stores")

#: What a database that is down, slow or refusing looks like from asyncpg.
UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

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
