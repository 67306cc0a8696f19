"""The organisation register: who may call the hub, as what, for which council, until when.

Kept in the hub database by the operator (``welfare-hub orgs load FILE``) and read by the service, which
caches each organisation for ``org_cache_seconds`` (a withdrawn accreditation applies within that time).
A token names the organisation; the register says what it is. A caller the register does not know, whose
token claims another type, or whose accreditation has expired is refused before anything is read.
"""

from __future__ import annotations

import datetime as dt
import time
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from hub.errors import AccreditationExpired, ConfigError, OrganisationTypeMismatch, UnknownOrganisation

__all__ = [
    "OrgRegister",
    "Organisation",
    "check",
    "load_areas",
    "parse_file",
    "person_key_of",
    "record_staff",
    "upsert",
]


@dataclass(frozen=True)
class Organisation:
    org_id: str
    name: str
    org_type: str
    council_code: str | None = None
    controller_org: str | None = None
    accredited_until: dt.date | None = None
    active: bool = True
    national: bool = False  # serves no one council's area (DWP, auditors): no local tie is asked of it


_FIELDS = ("name", "org_type", "council_code", "controller_org", "accredited_until", "active", "national")


def parse_file(path: Path, *, org_types: Mapping[str, str]) -> list[Organisation]:
    """``[organisations.<id>]`` tables; every problem listed at once (unknown keys, types, controllers)."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"cannot read the organisation file {path}: {e}"]) from e
    problems = [f"unknown top-level table {k!r}" for k in doc if k != "organisations"]
    orgs = []
    raw_orgs: dict[str, Any] = doc.get("organisations", {})
    for org_id, raw in raw_orgs.items():
        problems += [f"organisation {org_id}: unknown key {k!r}" for k in sorted(set(raw) - set(_FIELDS))]
        missing = [k for k in ("name", "org_type") if k not in raw]
        if missing:
            problems.append(f"organisation {org_id}: missing {', '.join(missing)}")
            continue
        if raw["org_type"] not in org_types:
            problems.append(f"organisation {org_id}: unknown org type {raw['org_type']!r}")
        until = raw.get("accredited_until")
        if until is not None and not isinstance(until, dt.date):
            problems.append(f"organisation {org_id}: accredited_until must be a date (YYYY-MM-DD)")
        controller = raw.get("controller_org")
        if controller is not None and controller not in raw_orgs:
            problems.append(f"organisation {org_id}: controller {controller!r} is not in the file")
        orgs.append(Organisation(org_id, **{k: raw[k] for k in _FIELDS if k in raw}))
    if problems:
        raise ConfigError(problems)
    return orgs


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


class OrgRegister:
    def __init__(self, pool: asyncpg.Pool, *, ttl: float, timeout: float) -> None:
        self.pool = pool
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[str, tuple[float, Organisation | None]] = {}
        self._areas: dict[str, tuple[float, frozenset[str]]] = {}

    async def staff_identity(self, user_hash: str) -> tuple[str, uuid.UUID | None] | None:
        """The user as a person, if the operator recorded it: the keyed hash of their NINO and their hub
        person key (when the link index knew them)."""
        row = await self.pool.fetchrow(
            "SELECT subject_hash, person_key FROM hub.staff_identity WHERE user_hash = $1",
            user_hash,
            timeout=self.timeout,
        )
        return (str(row["subject_hash"]), row["person_key"]) if row is not None else None

    async def districts_of(self, council: str) -> frozenset[str]:
        """The postcode districts in the council's area (cached like organisations)."""
        now = time.monotonic()
        hit = self._areas.get(council)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        rows = await self.pool.fetch(
            "SELECT postcode_district FROM hub.council_area WHERE council_code = $1", council, timeout=self.timeout
        )
        districts = frozenset(r["postcode_district"] for r in rows)
        if len(self._areas) > 1_000:
            self._areas.clear()
        self._areas[council] = (now, districts)
        return districts

    async def council_served(self, org: Organisation) -> str | None:
        """The council whose area the organisation serves: its own, or (a partner's) its controller's while
        the controller is active and accredited; None when there is none."""
        if org.council_code is not None or org.controller_org is None:
            return org.council_code
        controller = await self.get(org.controller_org)
        if controller is None or not controller.active:
            return None
        if controller.accredited_until is not None and controller.accredited_until < dt.date.today():
            return None
        return controller.council_code

    async def get(self, org_id: str) -> Organisation | None:
        now = time.monotonic()
        hit = self._cache.get(org_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        row = await self.pool.fetchrow(
            "SELECT org_id, name, org_type, council_code, controller_org, accredited_until, active, national "
            "FROM hub.organisation WHERE org_id = $1",
            org_id,
            timeout=self.timeout,
        )
        org = Organisation(**dict(row)) if row is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[org_id] = (now, org)
        return org


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


async def person_key_of(conn: asyncpg.Connection, nino_hashes: Sequence[str]) -> uuid.UUID | None:
    """The hub person a NINO is linked to (its hashes under every key of the ring), if any."""
    value = await conn.fetchval(
        "SELECT person_key FROM hub.link WHERE nino_hash = ANY($1::text[]) AND band = 'link' LIMIT 1",
        list(nino_hashes),
    )
    return value if isinstance(value, uuid.UUID) else None


def check(org: Organisation | None, *, claimed_type: str, today: dt.date) -> Organisation:
    """The register's verdict on a caller, or the refusal."""
    if org is None or not org.active:
        raise UnknownOrganisation("your organisation is not in the hub's organisation register")
    if org.org_type != claimed_type:
        raise OrganisationTypeMismatch("your token's organisation type is not the one the register holds")
    if org.accredited_until is not None and org.accredited_until < today:
        raise AccreditationExpired("your organisation's accreditation has expired: nothing can be shared with it")
    return org
