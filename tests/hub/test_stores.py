"""Migrations are idempotent; each service role has least privilege; the hub stores no NINO in clear."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from hub.config import Settings
from hub.ops.migrate import migrate
from tests import people as P
from tests.conftest import gql


async def test_migrate_twice_applies_nothing_new(settings: Settings) -> None:
    reports = await migrate(settings)
    assert {r.store for r in reports} == {"hub", "src_dwp", "src_hb", "src_social_care"}
    assert all(r.applied == () for r in reports)
    assert all("0001_init" in r.already for r in reports)


async def test_source_reader_role_cannot_write_or_see_ground_truth(settings: Settings, people: Any) -> None:
    conn = await asyncpg.connect(settings.service_url("src_dwp"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM dwp.person") > 0
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("UPDATE dwp.person SET given_name = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM synth_truth.record_identity")
    finally:
        await conn.close()


async def test_hub_role_cannot_rewrite_the_audit_log(settings: Settings, client: httpx.AsyncClient, token: Any) -> None:
    await gql(
        client,
        token("council_blue_badge", "BLUE_BADGE"),
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }",
        {"n": P.BADGE_DLA},
    )
    conn = await asyncpg.connect(settings.service_url("hub"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM hub.audit_event") > 0
        for statement in (
            "UPDATE hub.audit_event SET decision = 'refused'",
            "DELETE FROM hub.audit_event",
            "TRUNCATE hub.audit_event",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_hub_database_holds_no_nino_in_clear(
    settings: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # Make traffic touching every test person, including refusals and bad input, then scan every column.
    for nino in [*P.ALL, P.ABSENT]:
        await gql(
            client,
            token("council_blue_badge", "BLUE_BADGE"),
            "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }",
            {"n": nino},
        )
        await gql(
            client,
            token("council_hb", "BLUE_BADGE"),
            "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }",
            {"n": nino},
        )
    hub = admin["hub"]
    tables = await hub.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    )
    assert tables
    dump = []
    for t in tables:
        rows = await hub.fetch(f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t')
        dump += [r["row"] for r in rows]
    text = "\n".join(dump).upper()
    assert text.count("BLUE_BADGE") > 0, "the scan must see the audit rows"
    for nino in [*P.ALL, P.ABSENT]:
        assert nino not in text
        assert f"{nino[:2]} {nino[2:4]} {nino[4:6]} {nino[6:8]} {nino[8]}" not in text


async def test_even_the_owner_cannot_rewrite_the_audit_log(
    settings: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # With per-store URLs a deployment may run the service as the owner: the database itself refuses.
    await gql(
        client,
        token("council_blue_badge", "BLUE_BADGE"),
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }",
        {"n": P.BADGE_DLA},
    )
    hub = admin["hub"]  # the administrator, stronger than the owner
    before = await hub.fetchval("SELECT count(*) FROM hub.audit_event")
    for statement in (
        "UPDATE hub.audit_event SET decision = 'refused'",
        "DELETE FROM hub.audit_event",
        "TRUNCATE hub.audit_event",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await hub.execute(statement)
    assert await hub.fetchval("SELECT count(*) FROM hub.audit_event") == before


async def test_a_hub_federating_a_source_neither_creates_nor_migrates_its_store(settings: Settings) -> None:
    import dataclasses
    import uuid

    from hub.ops.migrate import drop_stores

    federating = dataclasses.replace(
        settings,
        db_prefix=f"m{uuid.uuid4().hex[:10]}_",
        subgraph_urls={"dwp": "http://127.0.0.1:9", "hb": "http://127.0.0.1:9"},
    )
    try:
        reports = await migrate(federating)
        assert [r.store for r in reports] == ["hub", "src_social_care"]
        admin = await asyncpg.connect(settings.admin_url())
        try:
            made = {
                r["datname"]
                for r in await admin.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{federating.db_prefix}%"
                )
            }
        finally:
            await admin.close()
        assert made == {federating.database_name("hub"), federating.database_name("src_social_care")}
    finally:
        await drop_stores(federating)
