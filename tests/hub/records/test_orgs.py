"""The organisation register's store (hub.records.orgs) on the real hub database: written as the operator
writes it, read as the service reads it (its own role, its cache).

The behaviour suites show the register's effect on requests; this pins the store's answers: what an
upsert keeps, which council a partner serves through its controller, what the cache holds, and the
council areas and staff identities as recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from hub.access.orgs import Organisation
from hub.records.orgs import OrgRegister, load_areas, record_staff, upsert

TODAY = dt.date.today()


def ids() -> str:
    """A prefix no other test's organisations share (the hub database is the session's)."""
    return f"u{uuid.uuid4().hex[:8]}"


async def test_an_upsert_is_read_back_whole_and_updates_in_place(
    pool: asyncpg.Pool, admin: dict[str, asyncpg.Connection]
) -> None:
    p = ids()
    council = Organisation(f"{p}-hb", "Northshire HB", "council_hb", council_code="E09000901")
    # The partner comes first in the list: the store writes controllers first, so the reference holds.
    partner = Organisation(
        f"{p}-homes", "Northshire Homes", "almo", controller_org=council.org_id, accredited_until=TODAY, active=True
    )
    national = Organisation(f"{p}-dwp", "DWP", "dwp", national=True)
    await upsert(admin["hub"], [partner, council, national])
    register = OrgRegister(pool, ttl=0, timeout=5)
    assert [await register.get(o.org_id) for o in (council, partner, national)] == [council, partner, national]
    assert await register.get(f"{p}-absent") is None
    withdrawn = dataclasses.replace(partner, active=False, name="Northshire Homes Ltd")
    await upsert(admin["hub"], [withdrawn])
    assert await register.get(partner.org_id) == withdrawn


# (description, the controller's changes (None: no controller), the partner's own council, served)
SERVED = [
    ("its own council", None, "E09000902", "E09000902"),
    ("neither a council nor a controller", None, None, None),
    ("its controller's council", {}, None, "E09000901"),
    ("its controller's, accredited until today", {"accredited_until": TODAY}, None, "E09000901"),
    (
        "none while its controller's accreditation has expired",
        {"accredited_until": TODAY - dt.timedelta(1)},
        None,
        None,
    ),
    ("none while its controller is inactive", {"active": False}, None, None),
    ("its own council before its controller's", {}, "E09000902", "E09000902"),
]


@pytest.mark.parametrize(("description", "controller", "own", "served"), SERVED, ids=[s[0] for s in SERVED])
async def test_the_council_a_partner_serves(
    pool: asyncpg.Pool,
    admin: dict[str, asyncpg.Connection],
    description: str,
    controller: dict[str, Any] | None,
    own: str | None,
    served: str | None,
) -> None:
    p = ids()
    orgs = []
    controller_id = None
    if controller is not None:
        base = Organisation(f"{p}-hb", "Northshire HB", "council_hb", council_code="E09000901")
        orgs.append(dataclasses.replace(base, **controller))
        controller_id = base.org_id
    partner = Organisation(f"{p}-partner", "Partner", "almo", council_code=own, controller_org=controller_id)
    await upsert(admin["hub"], [*orgs, partner])
    assert await OrgRegister(pool, ttl=0, timeout=5).council_served(partner) == served


async def test_the_cache_keeps_an_answer_for_its_time(pool: asyncpg.Pool, admin: dict[str, asyncpg.Connection]) -> None:
    p = ids()
    org = Organisation(f"{p}-hb", "Northshire HB", "council_hb")
    cached = OrgRegister(pool, ttl=3600, timeout=5)
    fresh = OrgRegister(pool, ttl=0, timeout=5)
    assert await cached.get(org.org_id) is None  # an unknown organisation is cached too
    await upsert(admin["hub"], [org])
    assert await cached.get(org.org_id) is None
    assert await fresh.get(org.org_id) == org


async def test_council_areas_are_stored_as_postcode_districts(
    pool: asyncpg.Pool, admin: dict[str, asyncpg.Connection]
) -> None:
    council = f"E99{uuid.uuid4().int % 10**6:06d}"
    await load_areas(admin["hub"], [(" zz1 ", f" {council} "), ("ZZ2", council), ("ZZ1", council)])
    register = OrgRegister(pool, ttl=0, timeout=5)
    assert await register.districts_of(council) == frozenset({"ZZ1", "ZZ2"})
    assert await register.districts_of(f"{council}-other") == frozenset()


async def test_a_staff_identity_is_recorded_and_replaced(
    pool: asyncpg.Pool, admin: dict[str, asyncpg.Connection]
) -> None:
    user = f"user-{uuid.uuid4().hex}"
    person = uuid.uuid4()
    register = OrgRegister(pool, ttl=0, timeout=5)
    assert await register.staff_identity(user) is None
    await record_staff(admin["hub"], [(user, "subject-1", None)])
    assert await register.staff_identity(user) == ("subject-1", None)
    await record_staff(admin["hub"], [(user, "subject-2", person)])
    assert await register.staff_identity(user) == ("subject-2", person)
