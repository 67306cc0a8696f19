"""The audit chain's verification as the service keeps it: computed in full, shared, kept fresh.

A full pass over the log (:func:`hub.audit.verify.verify_database`: every hash, link and checkpoint
signature) takes ~20 s over a million records, too long for an auditor's request. The service refreshes
it in the background every ``max_age`` seconds (:meth:`VerificationCache.refresh`); an auditor reads the
latest (:meth:`VerificationCache.status`) and waits only when there is none young enough.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit.events import reading
from hub.audit.verify import Verification, verify_database

__all__ = ["VerificationCache"]


class VerificationCache:
    """The chain's full verification, shared by concurrent callers."""

    def __init__(self, pool: asyncpg.Pool, keys: Mapping[str, Ed25519PublicKey], *, max_age: float) -> None:
        self.pool = pool
        self.keys = keys
        self.max_age = max_age
        self._result: tuple[float, dt.datetime, Verification] | None = None
        # One pass at a time: concurrent auditors wait for the pass under way instead of each starting one.
        self._lock = asyncio.Lock()

    async def status(self) -> tuple[dt.datetime, Verification]:
        """The latest verification; computed now only if there is none young enough (the service refreshes
        it in the background every ``max_age`` seconds, so an auditor rarely waits for the whole log)."""
        async with self._lock:
            if self._result is None or time.monotonic() - self._result[0] > self.max_age:
                await self._refresh()
            assert self._result is not None
            return self._result[1], self._result[2]

    async def refresh(self) -> None:
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        report = await self._verify()
        self._result = (time.monotonic(), dt.datetime.now(dt.UTC), report)

    @reading
    async def _verify(self) -> Verification:
        async with self.pool.acquire() as conn:
            return await verify_database(conn, self.keys)
