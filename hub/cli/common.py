"""What every command shares: the database it runs against, a clean Ctrl-C, the demo keys outside production,
and what to say when a database cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from hub.config import STORE_URL_VARIABLES, Settings
from hub.errors import ConfigError
from hub.types import STORES, StoreName

if TYPE_CHECKING:
    import asyncpg

    from hub.ops.migrate import MigrationReport


__all__ = [
    "database",
    "in_hub",
    "migrate_serialised",
    "stopped_by_ctrl_c",
    "unreachable",
    "with_local_keys",
]

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

    try:
        # Made this user's alone, as the demo keys' (embedded adds only the search bit a root run needs).
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            [f"cannot create the data directory {settings.data_dir} ({e.strerror}): choose another with --data-dir"]
        ) from None
    server = start_embedded(settings.data_dir.resolve() / "pg")
    log.info("embedded PostgreSQL running in %s", server.data_dir)
    try:
        yield settings.with_database(server.dsn)
    finally:
        server.stop()


class _Terminated(BaseException):
    """SIGTERM arrived (a service manager's stop): unwind like Ctrl-C, so cleanups run."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


@contextlib.contextmanager
def stopped_by_ctrl_c() -> Iterator[None]:
    """uvicorn shuts down on Ctrl-C or SIGTERM, then re-raises the signal: by then the stop was orderly, so
    exit 0. SIGTERM's default would end the process where it stands, leaving the embedded PostgreSQL it
    started running; raised as an exception instead, the ``database()`` block lets go of it first."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    except (KeyboardInterrupt, _Terminated):
        print("welfare-hub: stopped", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        assertion_key_path=settings.assertion_key_path or paths.assertion,
        link_model_path=settings.link_model_path or settings.data_dir / "link-model.json",
    )


def in_hub(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Run an operator command's writes in the hub database (migrated first), as its owner."""
    from hub.ops.migrate import connect_store, migrate

    async def run(s: Settings) -> None:
        await migrate_serialised(s, migrate)
        async with connect_store(s, "hub") as conn:
            await work(conn)

    with database(settings) as s:
        asyncio.run(run(s))


_MIGRATION_LOCK = 0x77686D67  # 'whmg': the advisory lock key commands migrate under
_MIGRATION_WAIT_S = 300


async def migrate_serialised(
    settings: Settings, migrate: Callable[[Settings], Awaitable[list[MigrationReport]]]
) -> list[MigrationReport]:
    """Run ``migrate`` holding a server-wide advisory lock: two commands migrating at once (an operator's
    command beside another) race in PostgreSQL's catalogue (GRANT: 'tuple concurrently updated')."""
    import asyncpg

    from hub.ops.migrate import migration_url

    url = settings.admin_url() if settings.database_url is not None else migration_url(settings, "hub")
    conn = await asyncpg.connect(url, timeout=30)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK, timeout=_MIGRATION_WAIT_S)
        return await migrate(settings)
    finally:
        await conn.close()  # the session's end releases the lock


# --- a database that cannot be reached ---------------------------------------------------------------

_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EADDRNOTAVAIL}
_PROBE_TIMEOUT_S = 5.0


def _connect_failure(exc: BaseException) -> bool:
    """Whether exc is a failure to reach or log in to a database (not a mistake in a query)."""
    import asyncpg

    if isinstance(exc, ConnectionError | socket.gaierror | TimeoutError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InvalidAuthorizationSpecificationError
        | asyncpg.InvalidCatalogNameError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.exceptions.ConnectionFailureError,
    )


def _cause(exc: BaseException) -> BaseException | None:
    """The failure to connect in exc or what it was raised from (a store error wraps the driver's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _connect_failure(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _endpoint(url: str) -> str:
    """host:port of a PostgreSQL URL, never its user or password."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # several hosts (h1:5432,h2:5432): show them as written
        return netloc or "(unix socket)"
    query = urllib.parse.parse_qs(parts.query)
    host = host or (query.get("host") or ["(local socket)"])[0]
    return f"{host}:{port or (query.get('port') or ['5432'])[0]}"


def _hint(failure: BaseException, variable: str) -> str:
    import asyncpg

    if isinstance(failure, asyncpg.InvalidCatalogNameError):
        return f"the database does not exist: run `welfare-hub migrate` with {variable} naming an administrator"
    if isinstance(failure, asyncpg.InvalidAuthorizationSpecificationError):
        return f"the server refused the role or its password: check the user and password in {variable}"
    if isinstance(failure, asyncpg.TooManyConnectionsError | asyncpg.CannotConnectNowError):
        return "the server is up but not taking connections now (starting, or at max_connections): try again"
    return (
        f"check that PostgreSQL is running and listening there, that the host and port in {variable} are right, "
        "and that no firewall or network policy stands between"
    )


def unreachable(settings: Settings, exc: BaseException) -> str | None:
    """If exc is a database that could not be reached, what to tell the operator (which store, which
    host:port, the driver's error class, and how to fix it; never a URL or password); else None."""
    failure = _cause(exc)
    if failure is None:
        return None
    from hub.ops.migrate import migration_url

    if settings.database_url is None and not settings.store_urls:
        # An embedded server the command started; it went away under the command.
        return (
            f"the embedded PostgreSQL stopped answering ({type(failure).__name__}); "
            f"see {settings.data_dir.resolve() / 'pg' / 'server.log'} and run the command again"
        )

    def variable(store: StoreName) -> str:
        return STORE_URL_VARIABLES[store] if settings.database_url is None else "DATABASE_URL"

    async def probe(store: StoreName) -> tuple[StoreName, str, BaseException | None]:
        import asyncpg

        url = migration_url(settings, store)
        try:
            conn = await asyncpg.connect(url, timeout=_PROBE_TIMEOUT_S)
        except Exception as e:
            return store, _endpoint(url), _cause(e) or e
        await conn.close()
        return store, _endpoint(url), None

    async def probe_all() -> list[tuple[StoreName, str, BaseException | None]]:
        return list(await asyncio.gather(*(probe(store) for store in STORES)))

    failed: dict[tuple[str, str, str], list[StoreName]] = {}
    hints: dict[tuple[str, str, str], str] = {}
    for store, where, error in asyncio.run(probe_all()):
        if error is not None:
            key = (where, type(error).__name__, variable(store))
            failed.setdefault(key, []).append(store)
            hints[key] = _hint(error, variable(store))
    if not failed:
        return (
            f"a database stopped answering during the command ({type(failure).__name__}); "
            "every store answers now: run the command again"
        )
    lines = [
        f"cannot reach {'store' if len(stores) == 1 else 'stores'} {', '.join(stores)} at {where} "
        f"({error_class}, from {var}): {hints[(where, error_class, var)]}"
        for (where, error_class, var), stores in failed.items()
    ]
    return "\n".join(lines)
