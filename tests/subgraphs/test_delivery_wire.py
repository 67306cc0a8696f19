"""Changes of circumstance delivered over a real subgraph process: DWP's and HB's own mutation lands each
delivery once however often it is repeated, answers what the direct adapter answers (HB: the councils of
claims routed without one), only for the purposes that send changes, logged under the notification."""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import SourceRefused
from hub.records.notifications import OutboxItem
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.remote import CareSubgraph, subgraph_source
from resolvers.sources.remote.delivery import DELIVERY_LEGAL_BASES, delivery_purpose
from tests.subgraphs.conftest import COUNCIL, Running, ask, call
from tests.subgraphs.test_hub_questions import adapter

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = "mutation($c: [InboxChangeInput!]!) { deliverChanges(changes: $c) { landed } }"


def change(
    target: str,
    ref: str,
    *,
    council: str | None = None,
    kind: str = "hospital_admission",
    notification: uuid.UUID | None = None,
    sender: str = "council_social_care",
) -> OutboxItem:
    return OutboxItem(
        delivery_id=uuid.uuid4(),
        target=target,
        target_ref=ref,
        council_code=council,
        notification_id=notification or uuid.uuid4(),
        kind=kind,
        effective_date=dt.date(2025, 9, 1),
        sender_org="care-north",
        sender_org_type=sender,
        correction_id=None,
        field=None,
        request_ids=(),
    )


@pytest.fixture
async def remote_of(subgraphs: dict[str, Running], signer: AssertionSigner) -> AsyncIterator[Any]:
    opened: list[Any] = []

    def connect(source: str) -> Any:
        found = subgraph_source(source, subgraphs[source].url.removesuffix("/graphql"), signer=signer, timeout=5)
        opened.append(found)
        return found

    try:
        yield connect
    finally:
        for s in opened:
            await s.aclose()


async def inbox(conns: dict[str, asyncpg.Connection], source: str, changes: list[OutboxItem]) -> list[dict[str, Any]]:
    rows = await conns[source].fetch(
        f"SELECT * FROM {source}.hub_inbox WHERE item_id = ANY($1::uuid[]) ORDER BY received_at, item_id",
        [c.delivery_id for c in changes],
    )
    return [dict(r) for r in rows]


async def test_a_delivery_to_dwp_lands_once_however_often_it_is_repeated(
    remote_of: Any, store_conns: dict[str, asyncpg.Connection]
) -> None:
    dwp = remote_of("dwp")
    one = change("dwp", "1")
    assert await dwp.deliver([one]) == {}
    assert await dwp.deliver([one, one]) == {}  # a lease that expired, replayed: the same delivery again
    assert await dwp.deliver([one]) == {}
    (row,) = await inbox(store_conns, "dwp", [one])
    assert (row["notification_id"], row["kind"], row["effective_date"], row["person_id"], row["sender_org_type"]) == (
        one.notification_id,
        "hospital_admission",
        dt.date(2025, 9, 1),
        1,
        "council_social_care",  # the sender's type, as the assertion vouched for it
    )


async def test_hb_over_the_wire_answers_what_the_direct_adapter_answers(
    remote_of: Any, stores: Settings, store_conns: dict[str, asyncpg.Connection]
) -> None:
    over_wire = [change("hb", "HB0000001"), change("hb", "HB0000404"), change("hb", "HB0000001", council=COUNCIL)]
    direct = [change("hb", "HB0000001"), change("hb", "HB0000404"), change("hb", "HB0000001", council=COUNCIL)]
    got = await remote_of("hb").deliver(over_wire)
    source, pool = await adapter(stores, "hb")
    try:
        expected = await source.deliver(direct)
    finally:
        await pool.close()
    assert got == expected == {"HB0000001": COUNCIL}
    landed = [(r["claim_ref"], r["council_code"], r["kind"]) for r in await inbox(store_conns, "hb", over_wire)]
    assert landed == [(r["claim_ref"], r["council_code"], r["kind"]) for r in await inbox(store_conns, "hb", direct)]
    assert len(landed) == 2  # a claim HB no longer holds has no team to tell: nothing lands for it


async def test_overnight_care_goes_under_its_own_purpose(
    remote_of: Any, store_conns: dict[str, asyncpg.Connection]
) -> None:
    started = change("hb", "HB0000001", council=COUNCIL, kind="overnight_care_started")
    assert delivery_purpose(started.kind) == "OVERNIGHT_CARE_CONFIRMATION"
    await remote_of("hb").deliver([started])
    (row,) = await store_conns["hb"].fetch(
        "SELECT purpose, legal_basis, org, org_type, subjects FROM hb.hub_access_log WHERE audit_id = $1",
        started.notification_id,
    )
    assert dict(row) == {
        "purpose": "OVERNIGHT_CARE_CONFIRMATION",
        "legal_basis": DELIVERY_LEGAL_BASES["OVERNIGHT_CARE_CONFIRMATION"],
        "org": "care-north",  # the sender the hub recorded: the owner's log says who told it
        "org_type": "council_social_care",
        "subjects": ["id:HB0000001"],
    }
    assert len(await inbox(store_conns, "hb", [started])) == 1


async def test_one_call_per_notification_each_logged_under_it(
    remote_of: Any, store_conns: dict[str, asyncpg.Connection]
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    batch = [
        change("hb", "HB0000001", council=COUNCIL, notification=first),
        change("hb", "HB0000002", council=COUNCIL, notification=second),
        change("hb", "HB0000003", council=COUNCIL, notification=first),
    ]
    await remote_of("hb").deliver(batch)
    rows = await store_conns["hb"].fetch(
        "SELECT audit_id, purpose, subjects, outcome FROM hb.hub_access_log WHERE audit_id = ANY($1::uuid[]) "
        "ORDER BY entry_id",
        [first, second],
    )
    assert [(r["audit_id"], r["purpose"], r["subjects"], r["outcome"]) for r in rows] == [
        (first, "CHANGE_NOTIFICATION", ["id:HB0000001", "id:HB0000003"], "answered"),
        (second, "CHANGE_NOTIFICATION", ["id:HB0000002"], "answered"),
    ]


@pytest.mark.parametrize("purpose", ["BLUE_BADGE", "CHANGE_OF_CIRCUMSTANCES", "LINKAGE", "CORRECTION_REVIEW"])
@pytest.mark.parametrize("source", ["dwp", "hb"])
async def test_refused_for_any_purpose_that_sends_no_changes(
    subgraphs: dict[str, Running],
    signer: AssertionSigner,
    store_conns: dict[str, asyncpg.Connection],
    source: str,
    purpose: str,
) -> None:
    one = change(source, "1" if source == "dwp" else "HB0000001", council=None if source == "dwp" else COUNCIL)
    variables = {
        "c": [
            {
                "deliveryId": str(one.delivery_id),
                "notificationId": str(one.notification_id),
                "kind": "HOSPITAL_ADMISSION",
                "effectiveDate": "2025-09-01",
                "targetRef": one.target_ref,
                "councilCode": one.council_code,
            }
        ]
    }
    answer = await call(
        signer,
        subgraphs[source],
        RECEIPT,
        variables,
        ask({}, purpose=purpose, councils=None),
        fields=["Mutation.deliverChanges", "DeliveryReceipt.landed"],
    )
    assert (answer.status, answer.codes, answer.body["data"]) == (200, ["FIELD_NOT_ALLOWED"], None)
    assert await inbox(store_conns, source, [one]) == []  # refused before anything was written


async def test_a_refused_delivery_is_a_failure_not_a_landing(
    remote_of: Any, store_conns: dict[str, asyncpg.Connection]
) -> None:
    # Overnight care is the HB team's alone: DWP's owner agreed to no delivery under its purpose.
    wrong = change("dwp", "1", kind="overnight_care_started")
    with pytest.raises(SourceRefused):  # the outbox retries it: it is never marked delivered
        await remote_of("dwp").deliver([wrong])
    assert await inbox(store_conns, "dwp", [wrong]) == []


async def test_social_care_has_no_inbox(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    assert not hasattr(CareSubgraph, "deliver")
    answer = await call(
        signer,
        subgraphs["social_care"],
        RECEIPT,
        {"c": []},
        ask({}, purpose="CHANGE_NOTIFICATION", councils=None),
        fields=["Mutation.deliverChanges", "DeliveryReceipt.landed"],
    )
    assert answer.codes == ["OPERATION_NOT_SUPPORTED"]


def test_the_legal_bases_are_the_registers() -> None:
    register = tomllib.loads((ROOT / "policy" / "purposes.toml").read_text())["purposes"]
    for purpose, basis in DELIVERY_LEGAL_BASES.items():
        assert register[purpose]["legal_basis"] == basis, purpose
