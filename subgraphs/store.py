"""The subgraph's own store: migrated by the subgraph itself (the source's migrations, which include its
access log), with its own credentials; the hub holds none of them."""

from __future__ import annotations

from typing import cast

import asyncpg

from hub.ops.migrate import MigrationReport, _apply
from hub.types import StoreName
from subgraphs.config import SubgraphConfig

__all__ = ["migrate_store", "store_of"]


def store_of(source: str) -> StoreName:
    return cast(StoreName, f"src_{source}")


async def migrate_store(config: SubgraphConfig) -> MigrationReport:
    """Bring the store up to date with the source's migrations (idempotent; an edited migration is refused).
    The objects belong to the role of the configured URL: the store's owner."""
    conn = await asyncpg.connect(config.database_url)
    try:
        # The hub's migrator for one store: the same checksums and the same advisory lock.
        return await _apply(conn, store_of(config.source), None)
    finally:
        await conn.close()
