"""The organisation register as the hub database keeps it: organisations, council areas, staff identities.

The operator writes it (``welfare-hub orgs load FILE``: :func:`upsert`; ``orgs staff``: :func:`record_staff`;
provisioning, the council areas: :func:`load_areas`); the service reads it through :class:`OrgRegister`,
which caches each answer for ``org_cache_seconds``, so a withdrawn accreditation applies within that time
without a database read per request. What the register's answers mean for a caller is decided in
:mod:`hub.access.orgs` (pure).

A read that fails raises :class:`~hub.errors.OrgRegisterUnavailable`: the caller is refused (fail closed).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

from hub.access.orgs import Organisation, admitted
from hub.db import unavailable_as
from hub.errors import OrgRegisterUnavailable
from hub.records.spans import StoreQuery, database_of, traced

__all__ = ["OrgRegister", "load_areas", "record_staff", "upsert"]

K = TypeVar("K")
V = TypeVar("V")


async def upsert(conn: asyncpg.Connection, orgs: Sequence[Organisation]) -> None:
    """Add or update organisations (controllers first, so references hold), in one transaction."""
    ordered = sorted(orgs, key=lambda o: o.controller_org is not None)
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO hub.organisation (org_id, name, org_type, council_code, controller_org, accredited_until, "
            "active, national) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id) DO UPDATE SET "
            "name = EXCLUDED.name, org_type = EXCLUDED.org_type, council_code = EXCLUDED.council_code, "
            "controller_org = EXCLUDED.controller_org, accredited_until = EXCLUDED.accredited_until, "
            "active = EXCLUDED.active, national = EXCLUDED.national, updated_at = now()",
            [
                (
                    o.org_id,
                    o.name,
                    o.org_type,
                    o.council_code,
                    o.controller_org,
                    o.accredited_until,
                    o.active,
                    o.national,
                )
                for o in ordered
            ],
        )


_ORGANISATION = (
    "SELECT org_id, name, org_type, council_code, controller_org, accredited_until, active, national "
    "FROM hub.organisation WHERE org_id = $1"
)
_DISTRICTS = "SELECT postcode_district FROM hub.council_area WHERE council_code = $1"
_STAFF = "SELECT subject_hash, person_key FROM hub.staff_identity WHERE user_hash = $1"


class _TtlCache(Generic[K, V]):
    """Values loaded on a miss and kept ``ttl`` seconds (bounded: cleared when it grows past ``limit``)."""

    def __init__(self, ttl: float, limit: int) -> None:
        self.ttl, self.limit = ttl, limit
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[K], Awaitable[V]]) -> V:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = await load(key)
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = (now, value)
        return value


class OrgRegister:
    """Reads of the organisation register, council areas and staff identities, each cached for ``ttl``
    seconds. A read that fails raises :class:`OrgRegisterUnavailable`: the caller refuses (fail closed).
    Each read of the database is traced; an answer from the cache makes no span."""

    def __init__(self, pool: asyncpg.Pool, *, ttl: float, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._orgs: _TtlCache[str, Organisation | None] = _TtlCache(ttl, 10_000)
        self._areas: _TtlCache[str, frozenset[str]] = _TtlCache(ttl, 1_000)
        self._staff: _TtlCache[str, tuple[str, uuid.UUID | None] | None] = _TtlCache(ttl, 10_000)
        namespace = database_of(pool)
        self._organisation = StoreQuery(namespace, "hub.organisation", _ORGANISATION)
        self._districts = StoreQuery(namespace, "hub.council_area", _DISTRICTS)
        self._staff_identity = StoreQuery(namespace, "hub.staff_identity", _STAFF)

    @unavailable_as(lambda: OrgRegisterUnavailable("the organisation register cannot be read, so nothing is released"))
    async def _fetch(self, query: StoreQuery, *args: object) -> list[asyncpg.Record]:
        with traced(query):
            return list(await self.pool.fetch(query.text, *args, timeout=self.timeout))

    async def get(self, org_id: str) -> Organisation | None:
        async def load(key: str) -> Organisation | None:
            rows = await self._fetch(self._organisation, key)
            return Organisation(**dict(rows[0])) if rows else None

        return await self._orgs.get(org_id, load)

    async def districts_of(self, council: str) -> frozenset[str]:
        """The postcode districts in the council's area."""

        async def load(key: str) -> frozenset[str]:
            rows = await self._fetch(self._districts, key)
            return frozenset(r["postcode_district"] for r in rows)

        return await self._areas.get(council, load)

    async def staff_identity(self, user_hash: str) -> tuple[str, uuid.UUID | None] | None:
        """The user as a person, if the operator recorded it: the keyed hash of their NINO and their hub
        person key (when the link index knew them)."""

        async def load(key: str) -> tuple[str, uuid.UUID | None] | None:
            rows = await self._fetch(self._staff_identity, key)
            return (str(rows[0]["subject_hash"]), rows[0]["person_key"]) if rows else None

        return await self._staff.get(user_hash, load)

    async def council_served(self, org: Organisation) -> str | None:
        """The council whose area the organisation serves: its own, or (a partner's) its controller's while
        the register would let the controller itself in (active, accredited); None when there is none."""
        if org.council_code is not None or org.controller_org is None:
            return org.council_code
        controller = await self.get(org.controller_org)
        if controller is None or not admitted(controller, dt.date.today()):
            return None
        return controller.council_code


async def load_areas(conn: asyncpg.Connection, areas: Sequence[tuple[str, str]]) -> None:
    """Add (postcode district, council code) pairs to the council-area table."""
    await conn.executemany(
        "INSERT INTO hub.council_area (postcode_district, council_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(d.strip().upper(), c.strip()) for d, c in areas],
    )


async def record_staff(conn: asyncpg.Connection, staff: Sequence[tuple[str, str, uuid.UUID | None]]) -> None:
    """(user hash, subject hash, hub person key or None): who each user is, as a person, in keyed hashes
    and the hub's own person key only."""
    await conn.executemany(
        "INSERT INTO hub.staff_identity (user_hash, subject_hash, person_key) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_hash) DO UPDATE SET subject_hash = EXCLUDED.subject_hash, "
        "person_key = EXCLUDED.person_key, recorded_at = now()",
        list(staff),
    )
