"""Provisioning of the four stores and their versioned SQL migrations.

``welfare-hub migrate`` is idempotent: each database records the migrations it applied (with a checksum,
so an edited migration is refused rather than silently skipped), and an advisory lock serialises two
migrators started at once (two pods rolling out together).

DDL cannot take bind parameters, so the few identifiers that reach SQL here (database and role names) are
checked against a strict pattern and quoted; every value still goes through parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources

import asyncpg

from hub.config import Settings, store_role_names
from hub.errors import ConfigError
from hub.types import STORES, StoreName

__all__ = [
    "MigrationReport",
    "connect_store",
    "drop_stores",
    "migrate",
    "migration_url",
    "provision",
    "quote_ident",
]

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_KEY = 0x5E1FA2E  # advisory lock id shared by every welfare-hub migrator
_SOURCE_SCHEMA: dict[StoreName, str] = {"src_dwp": "dwp", "src_hb": "hb", "src_social_care": "social_care"}
# The one table of a source the hub may write: the inbox it delivers changes of circumstance to.
_SOURCE_INBOX: dict[StoreName, str] = {"src_dwp": "dwp.hub_inbox", "src_hb": "hb.hub_inbox"}
# What the hub's own service role may do, exactly: _grant revokes whatever else it held. It reads the audit
# log and its checkpoints and writes neither: only their append functions (_HUB_FUNCTIONS) write them, so
# every record the service adds is in the chain (0019_audit_one_writer.sql).
_HUB_GRANTS: dict[str, str] = {
    "hub.audit_event": "SELECT",  # chained rows only (row-level security)
    "hub.audit_checkpoint": "SELECT",
    "hub.audit_hold": "SELECT, INSERT, UPDATE (lifted_at, lifted_by_hash)",
    "hub.trace_span": "SELECT, DELETE",  # spans stored before 0024: read, and pruned
    "hub.trace_batch": "SELECT, INSERT, DELETE",  # the service prunes its own copy of old spans
    "hub.notification": "SELECT, INSERT",
    "hub.outbox": "SELECT, INSERT, UPDATE",  # the dispatcher marks attempts and deliveries
    "hub.interest": "SELECT, INSERT, UPDATE",  # re-checked answers and withdrawals; nothing deleted
    "hub.entitlement_change": "SELECT, INSERT",
    "hub.correction": "SELECT, INSERT, UPDATE",  # the owner's decision; nothing deleted
    "hub.correction_notice": "SELECT, INSERT",
    "hub.complaint": "SELECT, INSERT, UPDATE (status, updated_at)",
    "hub.complaint_response": "SELECT, INSERT",
    "hub.complaint_party": "SELECT, INSERT, UPDATE (status, updated_at)",  # each party's own part
    "hub.link": "SELECT, INSERT, UPDATE",  # clerical decisions update links
    "hub.review_item": "SELECT, UPDATE",
    "hub.link_run": "SELECT",
    "hub.consent": "SELECT, INSERT, UPDATE",  # withdrawal sets withdrawn_at; nothing is deleted
    "hub.subject_notification": "SELECT, INSERT",
    "hub.organisation": "SELECT",
    "hub.persisted_operation": "SELECT",  # written by `welfare-hub operations` only (the owner)
    "hub.council_area": "SELECT",
    "hub.staff_identity": "SELECT",  # maintained by the operator (welfare-hub orgs load), read by the service
    "hub.rate_bucket": "SELECT, INSERT, UPDATE, DELETE",  # the limiter's buckets; refilled ones are pruned
}
_HUB_SEQUENCES = (
    "hub.audit_hold_hold_id_seq",
    "hub.interest_interest_id_seq",
    "hub.entitlement_change_change_id_seq",
    "hub.correction_correction_id_seq",
    "hub.complaint_complaint_id_seq",
    "hub.complaint_response_response_id_seq",
    "hub.review_item_review_id_seq",
    "hub.consent_consent_id_seq",
    "hub.subject_notification_notification_id_seq",
)
# Run as the store's owner (SECURITY DEFINER, fixed search_path): the service's only way to write the audit
# log and its checkpoints, and to learn (by id, without content) of rows outside the chain.
_HUB_FUNCTIONS = ("hub.audit_append", "hub.audit_checkpoint_append", "hub.audit_unchained")


def quote_ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ConfigError([f"unsafe SQL identifier {name!r}: use lower-case letters, digits and _"])
    return f'"{name}"'


def _qualified(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split("."))


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    store: StoreName
    applied: tuple[str, ...]
    already: tuple[str, ...]


def migrations_for(store: StoreName) -> list[Migration]:
    folder = resources.files("hub") / "migrations" / store
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


def migration_url(settings: Settings, store: StoreName) -> str:
    """Migrations and seeding run as the administrator when provisioning, else with the store's own URL."""
    if settings.database_url is not None:
        return settings.admin_url(store)
    return settings.service_url(store)


@contextlib.asynccontextmanager
async def connect_store(settings: Settings, store: StoreName) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a store as its owner (what operator commands and data loads use), closed after."""
    conn = await asyncpg.connect(migration_url(settings, store))
    try:
        yield conn
    finally:
        await conn.close()


async def provision(settings: Settings) -> None:
    """Create the stores' roles and databases when missing (needs a role with CREATEDB and CREATEROLE)."""
    conn = await asyncpg.connect(settings.admin_url())
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        for store in hub_stores(settings):
            owner, service = store_role_names(settings.db_prefix, store)
            for role in (owner, service):
                if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                    await conn.execute(f"CREATE ROLE {quote_ident(role)} LOGIN")
            if store != "hub":
                # A source's service role reads; the one table it may write is the hub's inbox there (granted
                # INSERT alone; the dispatcher opens its transaction READ WRITE for that insert only).
                await conn.execute(f"ALTER ROLE {quote_ident(service)} SET default_transaction_read_only = on")
            database = settings.database_name(store)
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await conn.execute(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(owner)}")
            await conn.execute(f"REVOKE ALL ON DATABASE {quote_ident(database)} FROM PUBLIC")
            await conn.execute(
                f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {quote_ident(owner)}, {quote_ident(service)}"
            )
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, store: StoreName, owner: str | None) -> MigrationReport:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS public.welfare_hub_migration (
               version text PRIMARY KEY,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied: list[str] = []
    already: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM public.welfare_hub_migration")
        }
        for migration in migrations_for(store):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise ConfigError(
                        [
                            f"{store} migration {migration.version} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        ]
                    )
                already.append(migration.version)
                continue
            async with conn.transaction():
                if owner is not None:
                    # Objects belong to the store's owner role, not to the administrator.
                    await conn.execute(f"SET LOCAL ROLE {quote_ident(owner)}")
                await conn.execute(migration.sql)
                await conn.execute("RESET ROLE")
            await conn.execute(
                "INSERT INTO public.welfare_hub_migration (version, checksum) VALUES ($1, $2)",
                migration.version,
                migration.checksum,
            )
            applied.append(migration.version)
    return MigrationReport(store, tuple(applied), tuple(already))


async def _grant(conn: asyncpg.Connection, settings: Settings, store: StoreName) -> None:
    owner, service = store_role_names(settings.db_prefix, store)
    svc = quote_ident(service)
    if store == "hub":
        # Exactly the privileges listed, in one transaction: what an older release granted (INSERT on the
        # audit log) is taken back, and a running service never sees a moment with less than it needs.
        async with conn.transaction():
            await conn.execute(f"GRANT USAGE ON SCHEMA hub TO {svc}")
            await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA hub FROM {svc}")
            await conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA hub FROM {svc}")
            await conn.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hub FROM {svc}")
            for table, privileges in _HUB_GRANTS.items():
                await conn.execute(f"GRANT {privileges} ON {_qualified(table)} TO {svc}")
            for sequence in _HUB_SEQUENCES:
                await conn.execute(f"GRANT USAGE ON SEQUENCE {_qualified(sequence)} TO {svc}")
            for function in _HUB_FUNCTIONS:
                await conn.execute(f"GRANT EXECUTE ON FUNCTION {_qualified(function)} TO {svc}")
        return
    schema = quote_ident(_SOURCE_SCHEMA[store])
    # The reader sees the source's own schema only; synth_truth (test ground truth) stays out of reach.
    await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {svc}")
    await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {svc}")
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote_ident(owner)} IN SCHEMA {schema} GRANT SELECT ON TABLES TO {svc}"
    )
    if store in _SOURCE_INBOX:
        await conn.execute(f"GRANT INSERT ON {_qualified(_SOURCE_INBOX[store])} TO {svc}")


def hub_stores(settings: Settings) -> list[StoreName]:
    """The stores this hub provisions and migrates: its own, and each source no subgraph answers for (a
    source's owner migrates its own store: ``welfare-hub subgraph <source> migrate``)."""
    return [s for s in STORES if s == "hub" or s.removeprefix("src_") not in settings.subgraph_urls]


async def migrate(settings: Settings) -> list[MigrationReport]:
    """Provision (when an administrator URL is configured) and bring every store up to date."""
    if settings.database_url is not None:
        await provision(settings)
    reports = []
    for store in hub_stores(settings):
        conn = await asyncpg.connect(migration_url(settings, store))
        try:
            owner = store_role_names(settings.db_prefix, store)[0] if settings.database_url else None
            reports.append(await _apply(conn, store, owner))
            if settings.database_url is not None:
                await _grant(conn, settings, store)
        finally:
            await conn.close()
    return reports


async def drop_stores(settings: Settings) -> None:
    """Drop the stores and roles of ``settings.db_prefix`` (tests and `demo --fresh` only)."""
    conn = await asyncpg.connect(settings.admin_url())
    try:
        for store in STORES:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(settings.database_name(store))} WITH (FORCE)")
        for store in STORES:
            for role in store_role_names(settings.db_prefix, store):
                await conn.execute(f"DROP ROLE IF EXISTS {quote_ident(role)}")
    finally:
        await conn.close()
