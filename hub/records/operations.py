"""Each organisation's registered operations: the safelist a partner organisation type must keep to, and
the documents any organisation may send by hash alone (automatic persisted queries: ``extensions.
persistedQuery.sha256Hash``). A hash is the sha256 of the document's exact text, as a client computes it.
Added and removed by ``welfare-hub operations``; the hub only reads (:class:`OperationSafelist`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from hub.db import unavailable_as
from hub.errors import OperationsUnavailable

__all__ = [
    "OperationSafelist",
    "RegisteredOperation",
    "add_operations",
    "list_operations",
    "operation_hash",
    "remove_operation",
]


def operation_hash(document: str) -> str:
    """The hash a client names a document by (APQ): sha256 of its text, as sent, in hex."""
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RegisteredOperation:
    org: str
    sha256: str
    operation_name: str | None
    document: str


class OperationSafelist:
    """Reads of the registered operations, a document found kept ``ttl`` seconds (a removal takes effect
    within that); what is not found is read again each time (a new registration counts at once)."""

    def __init__(self, pool: asyncpg.Pool, *, ttl: float, timeout: float, limit: int = 10_000) -> None:
        self.pool, self.ttl, self.timeout, self.limit = pool, ttl, timeout, limit
        self._found: dict[tuple[str, str], tuple[float, str]] = {}

    @unavailable_as(lambda: OperationsUnavailable("the registered operations cannot be read, so nothing is run"))
    async def document(self, org: str, sha256: str) -> str | None:
        """The organisation's document with this hash, or None."""
        key = (org, sha256)
        now = time.monotonic()
        hit = self._found.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        found: str | None = await self.pool.fetchval(
            "SELECT document FROM hub.persisted_operation WHERE org = $1 AND sha256 = $2",
            org,
            sha256,
            timeout=self.timeout,
        )
        if found is not None:
            if len(self._found) >= self.limit:
                self._found.clear()
            self._found[key] = (now, found)
        return found


async def add_operations(conn: asyncpg.Connection, org: str, documents: Sequence[tuple[str, str | None]]) -> list[str]:
    """Register ``(document, operation name)`` pairs for ``org`` (a repeat changes nothing); their hashes."""
    rows = [(org, operation_hash(doc), doc, name) for doc, name in documents]
    await conn.executemany(
        "INSERT INTO hub.persisted_operation (org, sha256, document, operation_name) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (org, sha256) DO NOTHING",
        rows,
    )
    return [r[1] for r in rows]


async def list_operations(conn: asyncpg.Connection, org: str) -> list[RegisteredOperation]:
    rows = await conn.fetch(
        "SELECT org, sha256, operation_name, document FROM hub.persisted_operation WHERE org = $1 "
        "ORDER BY added_at, sha256",
        org,
    )
    return [RegisteredOperation(**dict(r)) for r in rows]


async def remove_operation(conn: asyncpg.Connection, org: str, sha256: str) -> bool:
    done: str = await conn.execute("DELETE FROM hub.persisted_operation WHERE org = $1 AND sha256 = $2", org, sha256)
    return done != "DELETE 0"
