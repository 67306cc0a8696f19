"""A subgraph's ``_entities`` answers what the direct adapter answers for the same Ask, in one fetch, and
only within the assertion's councils."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.types import SubjectKey
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.social_care import SocialCareSource
from subgraphs.policy import load_policy
from tests.people import ABSENT, BADGE_DLA, CARE_ONLY, PIP_LOW, PIP_MOVING
from tests.subgraphs.conftest import ENTITY, OTHER_ONLY, Running, ask, call, entities_document, owner_url
from tests.subgraphs.helpers import render, selection_text

ADAPTERS: dict[str, Any] = {"dwp": DwpSource, "hb": HousingBenefitSource, "social_care": SocialCareSource}


def policy_selection(source: str, purpose: str) -> dict[str, frozenset[str]]:
    """Every field the source's own policy answers for the purpose (but the hub-internal ones)."""
    found: dict[str, set[str]] = {}
    for coordinate in load_policy(source).allowed(purpose):
        type_name, _, name = coordinate.partition(".")
        if name not in {"councils", "postcodeDistricts", "recordIds", "homeKeys", "openClaims"}:
            found.setdefault(type_name, set()).add(name)
    return {t: frozenset(f) for t, f in found.items()}


def representation(source: str, key: SubjectKey) -> dict[str, str]:
    kind, value = key
    return {"__typename": ENTITY[source], ("nino" if kind == "nino" else "recordId"): value}


async def direct(stores: Settings, source: str, keys: list[SubjectKey], the_ask: Any) -> list[Any]:
    pool: asyncpg.Pool = await create_store_pool(owner_url(stores, f"src_{source}"))  # type: ignore[arg-type]
    # The adapter refuses a DWP person id that is no number (ValueError); the subgraph answers null for it.
    usable = [k for k in keys if not (source == "dwp" and k[0] == "id" and not k[1].isdigit())]
    try:
        found = dict(zip(usable, await ADAPTERS[source](pool, timeout=5).fetch(usable, the_ask), strict=True))
        return [found.get(k) for k in keys]
    finally:
        await pool.close()


CASES = [
    pytest.param(
        "dwp",
        "CARE_CHARGING_DOMICILIARY",
        [("nino", BADGE_DLA), ("nino", PIP_LOW), ("id", "2"), ("nino", ABSENT), ("id", "not-a-number")],
        [True, True, True, False, False],
        id="dwp-care-charging",
    ),
    pytest.param(
        "hb",
        "DISCRETIONARY_HOUSING_PAYMENT",
        # OTHER_ONLY and PIP_MOVING have claims at the other council only: null, as not held.
        [("nino", BADGE_DLA), ("id", "HB0000001"), ("nino", OTHER_ONLY), ("nino", PIP_MOVING), ("id", "HB0000040")],
        [True, True, False, False, False],
        id="hb-dhp",
    ),
    pytest.param(
        "social_care",
        "CARE_CHARGING_RESIDENTIAL",
        [("nino", BADGE_DLA), ("id", "SC000002"), ("nino", CARE_ONLY), ("nino", OTHER_ONLY), ("id", "SC000040")],
        [True, True, True, False, False],
        id="social-care-residential",
    ),
]


@pytest.mark.parametrize(("source", "purpose", "keys", "held"), CASES)
async def test_entities_equal_the_direct_adapter_in_one_fetch(
    subgraphs: dict[str, Running],
    stores: Settings,
    signer: AssertionSigner,
    source: str,
    purpose: str,
    keys: list[SubjectKey],
    held: list[bool],
) -> None:
    selection = policy_selection(source, purpose)
    the_ask = ask(selection, purpose=purpose)
    entity = ENTITY[source]
    document = entities_document(entity, selection_text(entity, selection))
    answer = await call(signer, subgraphs[source], document, {"r": [representation(source, k) for k in keys]}, the_ask)
    assert answer.status == 200, answer.body
    assert "errors" not in answer.body, answer.body

    expected_records = await direct(stores, source, keys, the_ask)
    assert [r is not None for r in expected_records] == held
    expected = [
        None
        if record is None
        else {
            "__typename": entity,
            "nino": key[1] if key[0] == "nino" else None,
            "recordId": key[1] if key[0] == "id" else None,
            **render(record, entity, selection),
        }
        for key, record in zip(keys, expected_records, strict=True)
    ]
    assert answer.body["data"]["_entities"] == expected

    # One fetch for every representation, one statement per kind of key (the adapter's batching).
    names = [s["name"] for s in answer.spans]
    assert names.count("fetch") == 1
    fetch = next(s for s in answer.spans if s["name"] == "fetch")
    reads = [s for s in answer.spans if s["name"].startswith(("SELECT", "WITH"))]
    assert len(reads) == 2
    assert all(s["parentSpanId"] == fetch["spanId"] for s in reads)


async def test_a_national_question_is_answered_for_every_council(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    selection = {"HbPerson": frozenset({"claims", "nino"}), "HousingBenefitClaim": frozenset({"councilCode"})}
    the_ask = ask(selection, purpose="DISCRETIONARY_HOUSING_PAYMENT", councils=None)
    document = entities_document("HbPerson", "nino claims { councilCode }")
    answer = await call(signer, subgraphs["hb"], document, {"r": [representation("hb", ("nino", OTHER_ONLY))]}, the_ask)
    assert answer.body["data"]["_entities"] == [
        {"__typename": "HbPerson", "nino": OTHER_ONLY, "claims": [{"councilCode": "E09000902"}]}
    ]


async def test_the_key_fields_echo_only_the_representation(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    # A person asked for by record id is not told their NINO (nor the other way round).
    selection = {"DwpPerson": frozenset({"nino", "recordId", "blueBadgeAutomaticEligibility"})}
    the_ask = ask(selection, purpose="BLUE_BADGE")
    document = entities_document("DwpPerson", "nino recordId blueBadgeAutomaticEligibility")
    answer = await call(signer, subgraphs["dwp"], document, {"r": [representation("dwp", ("id", "1"))]}, the_ask)
    assert answer.body["data"]["_entities"] == [
        {"__typename": "DwpPerson", "nino": None, "recordId": "1", "blueBadgeAutomaticEligibility": True}
    ]


async def test_a_malformed_representation_is_an_error_in_its_slot(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    selection = {"DwpPerson": frozenset({"blueBadgeAutomaticEligibility"})}
    the_ask = ask(selection, purpose="BLUE_BADGE")
    document = entities_document("DwpPerson", "blueBadgeAutomaticEligibility")
    reps = [
        {"__typename": "DwpPerson", "nino": BADGE_DLA},
        {"__typename": "HbPerson", "nino": BADGE_DLA},
        {"__typename": "DwpPerson", "nino": BADGE_DLA, "recordId": "1"},
    ]
    answer = await call(signer, subgraphs["dwp"], document, {"r": reps}, the_ask)
    data = answer.body["data"]["_entities"]
    assert data[0] == {"__typename": "DwpPerson", "blueBadgeAutomaticEligibility": True}
    assert data[1:] == [None, None]
    assert sorted((e["path"], e["extensions"]["code"]) for e in answer.body["errors"]) == [
        (["_entities", 1], "BAD_REPRESENTATION"),
        (["_entities", 2], "BAD_REPRESENTATION"),
    ]
