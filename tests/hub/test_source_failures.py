"""A source that is down or slow costs only its own fields; a failed audit write releases nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from hub.audit.chain import CHAIN_LOCK
from hub.audit.checkpoints import AuditKeys
from hub.audit.verify import verify_database
from hub.config import Settings, store_role_names
from hub.ops.migrate import migrate, quote_ident
from tests import people as P
from tests.conftest import codes, gql, running_client
from tests.receipts import without_receipt

EVERYTHING = """query($nino: String!) { person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
    subjectId dwp { awardsInPayment { benefit } } housingBenefit { claims { weeklyRent } }
    socialCare { domiciliaryHoursPerWeek } } }"""

OVERNIGHT = "query($nino: String!) { person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId socialCare { overnightCareRequired } } }"


@contextlib.asynccontextmanager
async def source_down(settings: Settings, store: str) -> AsyncIterator[None]:
    """Take a source database down for real: refuse new connections and cut the open ones."""
    db = settings.database_name(store)  # type: ignore[arg-type]
    conn = await asyncpg.connect(settings.admin_url())
    try:
        await conn.execute(f"ALTER DATABASE {quote_ident(db)} ALLOW_CONNECTIONS false")
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename <> current_user", db
        )
        yield
    finally:
        await conn.execute(f"ALTER DATABASE {quote_ident(db)} ALLOW_CONNECTIONS true")
        await conn.close()


async def test_source_down_mid_suite_gives_partial_data(settings: Settings, people: Any, token: Any) -> None:
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    async with running_client(settings) as client:
        before = (await gql(client, t, EVERYTHING, {"nino": P.BADGE_DLA})).json()
        assert "errors" not in before
        async with source_down(settings, "src_hb"):
            body = (await gql(client, t, EVERYTHING, {"nino": P.BADGE_DLA})).json()
            ready = await client.get("/readyz")
        after = (await gql(client, t, EVERYTHING, {"nino": P.BADGE_DLA})).json()
    person = body["data"]["person"]
    assert person["dwp"] == before["data"]["person"]["dwp"]
    assert person["socialCare"] == before["data"]["person"]["socialCare"]
    assert person["housingBenefit"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "source": "hb"}
    assert error["path"] == ["person", "housingBenefit"]
    assert ready.status_code == 503
    assert ready.json()["stores"]["src_hb"] is False
    assert ready.json()["stores"]["src_dwp"] is True
    # The source came back: so does its data, with no restart of the hub.
    assert without_receipt(after) == without_receipt(before)


async def test_slow_source_times_out_alone(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    async with running_client(settings) as client:
        blocker = await asyncpg.connect(settings.admin_url("src_social_care"))
        try:
            async with blocker.transaction():
                # Holding an exclusive lock makes every read of the table wait: a slow source.
                await blocker.execute("LOCK TABLE social_care.client IN ACCESS EXCLUSIVE MODE")
                body = (await gql(client, t, EVERYTHING, {"nino": P.BADGE_DLA})).json()
        finally:
            await blocker.close()
    person = body["data"]["person"]
    assert person["socialCare"] is None
    assert person["dwp"]["awardsInPayment"]
    assert person["housingBenefit"]["claims"] == [{"weeklyRent": "95.50"}]
    assert codes(body) == ["SOURCE_TIMEOUT"]
    assert body["errors"][0]["path"] == ["person", "socialCare"]


async def test_audit_failure_releases_nothing(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection], client: httpx.AsyncClient
) -> None:
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM")
    ok = (await gql(client, t, OVERNIGHT, {"nino": P.BADGE_DLA})).json()
    assert ok["data"]["person"]["socialCare"] == {"overnightCareRequired": True}
    app_role = quote_ident(store_role_names(settings.db_prefix, "hub")[1])
    await admin["hub"].execute(f"REVOKE EXECUTE ON FUNCTION hub.audit_append FROM {app_role}")
    try:
        body = (await gql(client, t, OVERNIGHT, {"nino": P.BADGE_DLA})).json()
    finally:
        await admin["hub"].execute(f"GRANT EXECUTE ON FUNCTION hub.audit_append TO {app_role}")
    assert "data" not in body  # failed closed before execution: no data entry
    assert codes(body) == ["AUDIT_UNAVAILABLE"]
    assert "overnightCareRequired" not in str(body)
    assert "subjectId" not in str(body)


async def test_readyz_and_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "stores": {"src_dwp": True, "src_hb": True, "src_social_care": True, "hub": True},
    }


async def test_a_stuck_audit_chain_fails_closed_and_quickly(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # Another writer holds the chain's lock (a hung transaction, a stuck replica): the audit write cannot
    # append, so the request fails within the audit timeout, releasing nothing; the chain stays whole.
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM")
    quick = dataclasses.replace(settings, audit_timeout=0.5)
    holder = await asyncpg.connect(settings.admin_url("hub"))
    try:
        async with running_client(quick) as client:
            await holder.execute("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
            started = time.monotonic()
            try:
                body = (await gql(client, t, OVERNIGHT, {"nino": P.BADGE_DLA})).json()
            finally:
                await holder.execute("SELECT pg_advisory_unlock($1)", CHAIN_LOCK)
            elapsed = time.monotonic() - started
            after = (await gql(client, t, OVERNIGHT, {"nino": P.BADGE_DLA})).json()
    finally:
        await holder.close()
    assert "data" not in body  # failed closed before execution: no data entry
    assert codes(body) == ["AUDIT_UNAVAILABLE"]
    assert "overnightCareRequired" not in str(body)
    assert elapsed < 3
    assert after["data"]["person"]["socialCare"] == {"overnightCareRequired": True}
    keys = AuditKeys.load(settings.audit_keys_path)  # type: ignore[arg-type]
    assert (await verify_database(admin["hub"], keys.public)).ok


@pytest.mark.parametrize(
    ("table", "org_type", "purpose", "query", "code"),
    [
        (
            "hub.complaint",
            "council_hb",
            "HB_OVERNIGHT_CARER_ROOM",
            "{ complaintsInvolvingUs { items { complaintId } } }",
            "HUB_STORE_UNAVAILABLE",
        ),
        (
            "hub.correction_notice",
            "council_hb",
            "HB_OVERNIGHT_CARER_ROOM",
            "{ correctionNotices { items { correctionId } } }",
            "HUB_STORE_UNAVAILABLE",
        ),
        (
            "hub.entitlement_change",
            "council_blue_badge",
            "BLUE_BADGE",
            "{ entitlementChanges(purpose: BLUE_BADGE) { nextCursor } }",
            "HUB_STORE_UNAVAILABLE",
        ),
        ("hub.audit_hold", "auditor", "AUDIT", "{ auditAnomalies(purpose: AUDIT) { kind } }", None),
        (
            "hub.notification",
            "council_social_care",
            "CHANGE_NOTIFICATION",
            'mutation { notifyChange(purpose: CHANGE_NOTIFICATION, kind: CARE_HOME_ADMISSION, effectiveDate: "2026-01-02", idempotencyKey: "k-store-down", nino: "JK102030A") { status } }',
            "NOTIFICATION_UNAVAILABLE",
        ),
    ],
)
async def test_a_hub_store_that_cannot_be_read_gives_its_own_code(
    settings: Settings,
    client: httpx.AsyncClient,
    token: Any,
    admin: dict[str, asyncpg.Connection],
    table: str,
    org_type: str,
    purpose: str,
    query: str,
    code: str | None,
) -> None:
    # The hub database refuses one table (a lost grant, a locked relation): a specific, stable error, never
    # an internal one. (Anomalies read no hold: revoking it must change nothing.)
    app_role = quote_ident(store_role_names(settings.db_prefix, "hub")[1])
    t = token(org_type, purpose, org=f"store-down-{org_type}")
    await admin["hub"].execute(f"REVOKE ALL ON {table} FROM {app_role}")
    try:
        body = (await gql(client, t, query)).json()
    finally:
        await migrate(settings)  # every grant back, as provisioning makes them
    assert codes(body) == ([code] if code else []), body
