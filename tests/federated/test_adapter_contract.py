"""One contract, two transports: each source read directly from its store and over its owner's subgraph
answers the same questions the same way (the behaviour the hub relies on, on the test people).

Each ask selects what the source's own policy lets the hub ask for the purpose (a subgraph refuses more),
so the suite is what a hub can really ask, not what a test could force out of a database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.ops.issuer import IssuerKey
from hub.types import SubjectKey
from linkage import Demographics, NormalisedNino
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource, Sources
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.contract import CORRECTION_ROUTING_PURPOSE, ENTITIES, HUB_PURPOSES, LINKAGE_PURPOSE, Ask
from resolvers.sources.remote import aclose_sources, subgraph_sources
from subgraphs.policy import load_policy
from tests import people as P
from tests.subgraphs.conftest import Running

COUNCIL = "E09000901"
TRANSPORTS = ["direct", "subgraph"]


def policy_ask(
    source: str, purpose: str, *, councils: frozenset[str] | None = frozenset({COUNCIL}), legal_basis: str = "test"
) -> Ask:
    """An ask for everything the source's own policy allows the purpose (what the hub can really ask)."""
    selection: dict[str, set[str]] = {}
    for coordinate in load_policy(source).allowed(purpose):
        type_name, _, field = coordinate.partition(".")
        selection.setdefault(type_name, set()).add(field)
    return Ask(
        purpose=purpose,
        legal_basis=legal_basis,
        org="contract-suite",
        org_type="council_care_finance",
        audit_id=uuid.uuid4(),
        selection={t: frozenset(f) for t, f in selection.items()},
        councils=councils,
    )


@contextlib.asynccontextmanager
async def transport(kind: str, settings: Settings, subgraphs: dict[str, Running]) -> AsyncIterator[Sources]:
    if kind == "subgraph":
        assert settings.assertion_key_path is not None
        key = IssuerKey.load(settings.assertion_key_path)
        sources = subgraph_sources(
            {n: r.url.removesuffix("/graphql") for n, r in subgraphs.items()},
            signer=AssertionSigner(key.private_key, key.kid, issuer=settings.assertion_issuer),
            timeout=5.0,
        )
        try:
            yield sources
        finally:
            await aclose_sources(sources)
        return
    pools = {
        s: await create_store_pool(settings.service_url(s), max_size=2)
        for s in ("src_dwp", "src_hb", "src_social_care")
    }
    try:
        yield Sources(
            dwp=DwpSource(pools["src_dwp"], timeout=5.0),
            hb=HousingBenefitSource(pools["src_hb"], timeout=5.0),
            social_care=SocialCareSource(pools["src_social_care"], timeout=5.0),
        )
    finally:
        for pool in pools.values():
            await pool.close()


@pytest.fixture(params=TRANSPORTS)
async def sources(
    request: pytest.FixtureRequest, settings: Settings, people: Any, subgraphs: dict[str, Running]
) -> AsyncIterator[Sources]:
    async with transport(request.param, settings, subgraphs) as found:
        yield found


@pytest.fixture
async def both(
    settings: Settings, people: Any, subgraphs: dict[str, Running]
) -> AsyncIterator[tuple[Sources, Sources]]:
    async with transport("direct", settings, subgraphs) as d, transport("subgraph", settings, subgraphs) as s:
        yield d, s


HELD = {"dwp": "1", "hb": "HB0000001", "social_care": "SC000001"}  # BADGE_DLA's record in each
UNKNOWN = {"dwp": "999999", "hb": "HB9999999", "social_care": "SC999999"}
PURPOSES = ["CARE_CHARGING_DOMICILIARY", "BLUE_BADGE", "HB_OVERNIGHT_CARER_ROOM", "CHANGE_OF_CIRCUMSTANCES"]


@pytest.mark.parametrize("name", sorted(ENTITIES))
async def test_one_answer_per_key_in_order_and_none_for_unknown(sources: Sources, name: str) -> None:
    source = sources[name]
    keys: list[SubjectKey] = [
        ("id", UNKNOWN[name]),
        ("nino", P.BADGE_DLA),
        ("id", HELD[name]),
        ("nino", P.ABSENT),
        ("id", "not-an-id"),
    ]
    found = await source.fetch(keys, policy_ask(name, "CARE_CHARGING_DOMICILIARY"))
    assert len(found) == len(keys)
    unknown, by_nino, by_id, absent, malformed = found
    assert (unknown, absent, malformed) == (None, None, None)
    assert by_nino is not None
    assert by_id is not None
    assert await source.fetch([], policy_ask(name, "CARE_CHARGING_DOMICILIARY")) == []


#: Each source with each purpose that may ask it anything (its own policy says).
ASKED = [(n, p) for n in sorted(ENTITIES) for p in PURPOSES if load_policy(n).allowed(p)]


@pytest.mark.parametrize(("name", "purpose"), ASKED, ids=[f"{n}-{p}" for n, p in ASKED])
async def test_both_transports_answer_the_same(both: tuple[Sources, Sources], name: str, purpose: str) -> None:
    direct, remote = both
    keys: list[SubjectKey] = [("nino", n) for n in (P.BADGE_DLA, P.PIP_MOVING, P.CARE_ONLY, P.ABSENT)]
    keys += [("id", HELD[name]), ("id", UNKNOWN[name])]
    for councils in (frozenset({COUNCIL}), frozenset({"E09000999"}), None):
        ask = policy_ask(name, purpose, councils=councils)
        assert await remote[name].fetch(keys, ask) == await direct[name].fetch(keys, ask), (purpose, councils)


@pytest.mark.parametrize("name", sorted(ENTITIES))
async def test_another_councils_records_are_not_held(sources: Sources, name: str) -> None:
    keys: list[SubjectKey] = [("nino", P.BADGE_DLA)]
    other = await sources[name].fetch(
        keys, policy_ask(name, "CARE_CHARGING_DOMICILIARY", councils=frozenset({"E09000999"}))
    )
    own = await sources[name].fetch(keys, policy_ask(name, "CARE_CHARGING_DOMICILIARY"))
    assert own[0] is not None
    # DWP is national: its record is the person's, whichever council asks. A council's records are its own.
    assert (other[0] is None) == (name != "dwp")


@pytest.mark.parametrize("name", sorted(ENTITIES))
async def test_ties_and_record_ids(both: tuple[Sources, Sources], name: str) -> None:
    direct, remote = both
    keys: list[SubjectKey] = [("id", HELD[name]), ("nino", P.BADGE_DLA), ("id", UNKNOWN[name]), ("nino", P.ABSENT)]
    for councils in (frozenset({COUNCIL}), None):
        ask = policy_ask(name, "CARE_CHARGING_DOMICILIARY", councils=councils)
        ties = await remote[name].ties(keys, ask)
        assert ties == await direct[name].ties(keys, ask)
        assert ties[2] == ties[3] == (frozenset(), frozenset())
        assert "NT1" in ties[0][1]
    # Another council's question: a council's records there are not its to know, nor where they say the
    # person lives; DWP's record is the person's own home, whoever asks.
    elsewhere = policy_ask(name, "CARE_CHARGING_DOMICILIARY", councils=frozenset({"E09000999"}))
    for each in (direct, remote):
        councils, districts = (await each[name].ties([("nino", P.BADGE_DLA)], elsewhere))[0]
        assert councils == frozenset()
        assert (districts == frozenset()) == (name != "dwp")
    routing = policy_ask(
        name, CORRECTION_ROUTING_PURPOSE, councils=None, legal_basis=HUB_PURPOSES[CORRECTION_ROUTING_PURPOSE]
    )
    ids = await remote[name].record_ids(NormalisedNino(P.BADGE_DLA), routing)
    assert ids == await direct[name].record_ids(NormalisedNino(P.BADGE_DLA), routing) == [HELD[name]]
    assert await remote[name].record_ids(NormalisedNino(P.ABSENT), routing) == []


async def test_candidates_are_the_same_over_both(both: tuple[Sources, Sources]) -> None:
    direct, remote = both
    queries = [
        Demographics(given_name="Margret", family_name="Okafor", dob=dt.date(1950, 3, 14)),
        Demographics(given_name="Zebedee", family_name="Quaxworth", dob=dt.date(1901, 1, 1), postcode="ZZ9 9ZZ"),
        Demographics(given_name="Margaret", family_name="Smith", dob=dt.date(1950, 3, 14), postcode="NT1 1AA"),
    ]
    ask = dataclasses.replace(
        policy_ask("dwp", LINKAGE_PURPOSE, councils=None), legal_basis=HUB_PURPOSES[LINKAGE_PURPOSE]
    )
    found = sorted((i, c.record_id or "") for i, c in await remote.dwp.find_candidates(queries, ask))
    assert found == sorted((i, c.record_id or "") for i, c in await direct.dwp.find_candidates(queries, ask))
    assert (0, HELD["dwp"]) in found
    assert (2, HELD["dwp"]) in found
    assert not [i for i, _ in found if i == 1]


async def test_the_spine_and_claims_questions_are_the_same_over_both(both: tuple[Sources, Sources]) -> None:
    direct, remote = both
    ask = policy_ask("dwp", "CHANGE_OF_CIRCUMSTANCES")
    keys: list[SubjectKey] = [("nino", P.BADGE_DLA), ("id", HELD["dwp"]), ("nino", P.ABSENT)]
    assert await remote.dwp.people_of(keys, ask) == await direct.dwp.people_of(keys, ask)
    hb_ask = policy_ask("hb", "CHANGE_OF_CIRCUMSTANCES")
    hb_keys: list[SubjectKey] = [("nino", P.BADGE_DLA), ("id", HELD["hb"])]
    assert await remote.hb.open_claims(hb_keys, hb_ask) == await direct.hb.open_claims(hb_keys, hb_ask)
    audit = policy_ask("dwp", "AUDIT", councils=None)
    homes_remote = await remote.dwp.homes([HELD["dwp"], "2", "999999"], audit)
    homes_direct = await direct.dwp.homes([HELD["dwp"], "2", "999999"], audit)
    assert {k: set(v) for k, v in homes_remote.items()} == {k: set(v) for k, v in homes_direct.items()}


async def test_a_question_outside_the_owners_policy_is_refused_by_the_subgraph(
    settings: Settings, subgraphs: dict[str, Running], people: Any
) -> None:
    from hub.errors import SourceRefused

    async with transport("subgraph", settings, subgraphs) as remote:
        ask = policy_ask("dwp", "CARE_CHARGING_DOMICILIARY")
        # Blue Badge's ask with the care-charging fields: the hub would never, and DWP refuses anyway.
        wrong = dataclasses.replace(ask, purpose="BLUE_BADGE")
        with pytest.raises(SourceRefused):
            await remote.dwp.fetch([("nino", P.BADGE_DLA)], wrong)
