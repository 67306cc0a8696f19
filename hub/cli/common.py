"""What every command shares: the database it runs against, a clean Ctrl-C, and the demo keys outside production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg

    pass


__all__ = ["database", "in_hub", "stopped_by_ctrl_c", "with_local_keys"]

log = logging.getLogger("welfare_hub")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The configured server, or an embedded one started (and stopped again) for the command."""
    if settings.database_url is not None or settings.store_urls:
        yield settings
        return
    if settings.production:
        raise ConfigError(["production mode needs a configured database, not an embedded one"])
    from hub.ops.embedded import start_embedded

    server = start_embedded(settings.data_dir.resolve() / "pg")
    log.info("embedded PostgreSQL running in %s", server.data_dir)
    try:
        yield settings.with_database(server.dsn)
    finally:
        server.stop()


@contextlib.contextmanager
def stopped_by_ctrl_c() -> Iterator[None]:
    """uvicorn shuts down on Ctrl-C, then re-raises the signal: by then the stop was orderly, so exit 0."""
    try:
        yield
    except KeyboardInterrupt:
        print("welfare-hub: stopped", file=sys.stderr)


def with_local_keys(settings: Settings) -> Settings:
    """Outside production, default to (and create) the demo key files in the data directory."""
    if settings.production:
        return settings
    from hub.ops import demo

    paths = demo.ensure_keys(settings.data_dir)
    return replace(
        settings,
        jwks_path=settings.jwks_path or paths.jwks,
        keys_path=settings.keys_path or paths.key_ring,
        audit_keys_path=settings.audit_keys_path or paths.audit,
        link_model_path=settings.link_model_path or settings.data_dir / "link-model.json",
    )


def in_hub(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Run an operator command's writes in the hub database (migrated first), as its owner."""
    from hub.ops.migrate import connect_store, migrate

    async def run(s: Settings) -> None:
        await migrate(s)
        async with connect_store(s, "hub") as conn:
            await work(conn)

    with database(settings) as s:
        asyncio.run(run(s))
