"""The subgraph transport on a real HTTP hop: what crosses the wire, and what comes back.

A batch is one POST, whatever its size and its kinds of key; the document names exactly the fields the
ask selects (plus the key it looks up by); the assertion verifies against the exact bytes received and
names exactly the document's fields; and the records decoded are the contract's direct answer
(:func:`resolvers.sources.contract.answer`) for the same records, field for field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import orjson
import pytest

from hub.errors import SourceUnavailable
from linkage import Demographics
from resolvers.sources.assertion import AssertionVerifier, InvalidAssertion
from resolvers.sources.contract import CONTRACT_FIELDS, ENTITIES, LINKAGE_PURPOSE, answer, coordinates
from resolvers.sources.demographics import query_batch
from resolvers.sources.remote import (
    CANDIDATE_CHUNK,
    CareSubgraph,
    DwpSubgraph,
    HbSubgraph,
    aclose_sources,
    subgraph_source,
    subgraph_sources,
)
from resolvers.sources.remote.wire import entity_plan
from tests.sources.remote.conftest import (
    CARE_NINO,
    CARE_RECORD,
    COUNCIL,
    ELSEWHERE,
    HB_NINO,
    HB_RECORD,
    ISSUER,
    MARGARET,
    MARGARET_NINO,
    PROTECTED,
    PROTECTED_NINO,
    make_ask,
)

#: Per source: a selection reaching into nested types, the records held, and keys of both kinds.
SELECTIONS: dict[str, dict[str, frozenset[str]]] = {
    "dwp": {
        "DwpPerson": frozenset(
            {
                "name",
                "dateOfBirth",
                "awardsInPayment",
                "householdMembers",
                "blueBadgeAutomaticEligibility",
                "declaredCapital",
            }
        ),
        "PersonName": frozenset({"givenName", "familyName"}),
        "BenefitAward": frozenset({"benefit", "rate", "weeklyAmount", "startDate", "endDate"}),
        "HouseholdMember": frozenset({"relationship", "name"}),
        "DeclaredCapital": frozenset({"amount"}),
    },
    "hb": {
        "HbPerson": frozenset({"claims", "overnightCarerRoomAwarded"}),
        "HousingBenefitClaim": frozenset(
            {
                "claimRef",
                "councilCode",
                "tenancyType",
                "weeklyRent",
                "dhpAwards",
                "endDate",
                "nonDependantCount",
                "overnightCarerRoom",
            }
        ),
        "DhpAward": frozenset({"weeklyAmount", "startDate"}),
    },
    "social_care": {
        "CareClient": frozenset(
            {"placements", "financialAssessments", "overnightCareRequired", "domiciliaryHoursPerWeek", "councils"}
        ),
        "CarePlacement": frozenset({"kind", "admittedOn", "dischargedOn"}),
        "FinancialAssessment": frozenset({"weeklyAssessedCharge"}),
    },
}
KEYS: dict[str, list[tuple[str, str]]] = {
    "dwp": [("nino", MARGARET_NINO), ("id", "404"), ("id", "1"), ("nino", "ZZ000000Z")],
    "hb": [("id", "HB-404"), ("nino", HB_NINO), ("id", "HB-1")],
    "social_care": [("nino", CARE_NINO), ("id", "C-2"), ("id", "C-1")],
}
HELD: dict[str, list[Any]] = {
    "dwp": [MARGARET, None, MARGARET, None],
    "hb": [None, HB_RECORD, HB_RECORD],
    "social_care": [CARE_RECORD, ELSEWHERE, CARE_RECORD],
}


async def test_one_post_answers_the_batch_as_the_contract_does(source_name: str, subgraphs: Any, connect: Any) -> None:
    source = connect(source_name)
    ask = make_ask(SELECTIONS[source_name])
    got = await source.fetch(KEYS[source_name], ask)
    expected = answer(source_name, HELD[source_name], ask)
    assert len(subgraphs[source_name].received) == 1  # one POST for the whole batch, both kinds of key
    assert got == expected
    assert any(r is not None for r in got)
    assert any(r is None for r in got)


async def test_another_councils_record_is_not_held(subgraphs: Any, connect: Any) -> None:
    ask = make_ask(SELECTIONS["social_care"])
    got = await connect("social_care").fetch([("id", "C-2")], ask)
    assert got == [None]  # held only by OTHER_COUNCIL: the same answer as "not held"
    national = dataclasses.replace(ask, councils=None)
    (record,) = await connect("social_care").fetch([("id", "C-2")], national)
    assert record is not None
    assert record.council_codes == tuple(ELSEWHERE.council_codes)


def _words(body: bytes) -> set[str]:
    """The GraphQL names in a request's query text (the variables hold the representations' keys)."""
    query = orjson.loads(body)["query"]
    return set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", query))


@pytest.mark.parametrize("kinds", [["nino"], ["id"], ["nino", "id"]])
async def test_nothing_crosses_the_wire_that_the_ask_did_not_select(
    source_name: str, kinds: list[str], subgraphs: Any, connect: Any
) -> None:
    selection = SELECTIONS[source_name]
    keys = [k for k in KEYS[source_name] if k[0] in kinds]
    await connect(source_name).fetch(keys, make_ask(selection))
    (received,) = subgraphs[source_name].received
    entity = ENTITIES[source_name]
    key_fields = {"nino" if k == "nino" else "recordId" for k in kinds}
    wanted = {f"{t}.{f}" for t, fs in selection.items() for f in fs} | {f"{entity}.{k}" for k in key_fields}
    assert received.fields == wanted  # the document, parsed by the subgraph
    # And the raw bytes: no contract field that was not asked for appears anywhere in the query text.
    unasked = {f for t, fs in CONTRACT_FIELDS.items() for f in fs} - {c.partition(".")[2] for c in wanted}
    assert not _words(received.body) & unasked


async def test_the_assertion_verifies_against_the_exact_body_and_names_the_documents_fields(
    source_name: str, subgraphs: Any, connect: Any, hub_key: Any
) -> None:
    ask = make_ask(SELECTIONS[source_name])
    await connect(source_name).fetch(KEYS[source_name], ask)
    (received,) = subgraphs[source_name].received
    assertion = received.assertion
    assert assertion is not None  # the subgraph verified it
    assert assertion.audience == source_name
    assert (assertion.purpose, assertion.org, assertion.org_type) == (ask.purpose, ask.org, ask.org_type)
    assert assertion.audit_id == ask.audit_id
    assert assertion.councils == frozenset({COUNCIL})
    assert assertion.fields == received.fields
    token = received.headers["Authorization"].removeprefix("Bearer ")
    verifier = AssertionVerifier(hub_key.jwks(), issuer=ISSUER, audience=source_name)
    verifier.verify(token, received.body)
    with pytest.raises(InvalidAssertion, match="not for this request"):
        verifier.verify(token, received.body.replace(b'"id"', b'"id" ', 1) + b" ")
    other = "hb" if source_name == "dwp" else "dwp"
    with pytest.raises(InvalidAssertion, match="wrong audience"):
        AssertionVerifier(hub_key.jwks(), issuer=ISSUER, audience=other).verify(token, received.body)


async def test_each_call_carries_a_fresh_assertion(subgraphs: Any, connect: Any) -> None:
    source = connect("dwp")
    ask = make_ask(SELECTIONS["dwp"])
    await source.fetch([("nino", MARGARET_NINO)], ask)
    await source.fetch([("nino", MARGARET_NINO)], ask)
    first, second = (r.assertion for r in subgraphs["dwp"].received)
    assert first is not None
    assert second is not None
    assert first.jti != second.jti


async def test_a_protected_address_is_withheld_and_flagged(subgraphs: Any, connect: Any) -> None:
    selection = {
        "DwpPerson": frozenset({"name", "address"}),
        "PersonName": frozenset({"givenName"}),
        "Address": frozenset({"postcode"}),
    }
    got = await connect("dwp").fetch([("nino", PROTECTED_NINO), ("id", "1")], make_ask(selection))
    protected, margaret = got
    assert protected.address_protected is True
    assert protected.held_address is None
    assert protected.name.given_name == "Sam"
    assert margaret.address_protected is False
    assert margaret.held_address.postcode == "NT1 1AA"
    assert margaret.held_address.line1 is None  # not asked for
    without = await connect("dwp").fetch([("nino", PROTECTED_NINO)], make_ask({"DwpPerson": frozenset({"name"})}))
    assert without[0].address_protected is None
    assert without[0].held_address is None


async def test_an_object_asked_for_without_its_fields_tells_nothing(subgraphs: Any, connect: Any) -> None:
    (record,) = await connect("dwp").fetch([("id", "1")], make_ask({"DwpPerson": frozenset({"name"})}))
    assert record.name == dataclasses.replace(MARGARET.name, given_name=None, middle_names=None, family_name=None)
    assert "givenName" not in subgraphs["dwp"].received[0].body.decode()


def test_a_document_is_built_once_per_distinct_selection() -> None:
    selection = SELECTIONS["dwp"]
    first = entity_plan("DwpPerson", selection, frozenset({"nino"}))
    assert entity_plan("DwpPerson", dict(selection), frozenset({"nino"})) is first
    # Types the entity does not reach, and empty sets, do not make another document.
    assert (
        entity_plan(
            "DwpPerson",
            {**selection, "CarePlacement": frozenset({"kind"}), "Address": frozenset()},
            frozenset({"nino"}),
        )
        is first
    )
    assert entity_plan("DwpPerson", selection, frozenset({"id"})) is not first
    assert first.fields == tuple(
        coordinates("DwpPerson", {**selection, "DwpPerson": selection["DwpPerson"] | {"nino"}})
    )


async def test_an_empty_batch_sends_nothing(subgraphs: Any, connect: Any) -> None:
    source = connect("hb")
    ask = make_ask(SELECTIONS["hb"])
    assert await source.fetch([], ask) == []
    assert await source.ties([], ask) == []
    assert await source.open_claims([], ask) == []
    assert await source.find_candidates([], ask) == []
    assert subgraphs["hb"].received == []


async def test_a_key_of_another_kind_is_refused_before_sending(subgraphs: Any, connect: Any) -> None:
    with pytest.raises(ValueError, match="subject key"):
        await connect("dwp").fetch([("hashed", "x")], make_ask(SELECTIONS["dwp"]))
    assert subgraphs["dwp"].received == []


# -- the hub's own questions --------------------------------------------------------------------------


async def test_ties_ask_only_for_councils_and_districts(source_name: str, subgraphs: Any, connect: Any) -> None:
    keys = KEYS[source_name]
    ties = await connect(source_name).ties(keys, make_ask(SELECTIONS[source_name]))
    held = {
        "dwp": (frozenset(), frozenset({"NT1"})),
        "hb": (frozenset({COUNCIL}), frozenset({"NT1"})),
        "social_care": (frozenset({COUNCIL}), frozenset({"NT1"})),
    }[source_name]
    none = (frozenset(), frozenset())
    assert ties == [
        held if r is not None else none
        for r in answer(source_name, HELD[source_name], make_ask(SELECTIONS[source_name]))
    ]
    (received,) = subgraphs[source_name].received
    entity = ENTITIES[source_name]
    assert received.fields - {f"{entity}.nino", f"{entity}.recordId"} == {
        f"{entity}.councils",
        f"{entity}.postcodeDistricts",
    }


async def test_record_ids_people_homes_and_open_claims(subgraphs: Any, connect: Any) -> None:
    ask = make_ask(SELECTIONS["dwp"])
    dwp, hb = connect("dwp"), connect("hb")
    assert await dwp.record_ids(MARGARET_NINO, ask) == ["1"]
    assert await dwp.record_ids("ZZ000000Z", ask) == []
    assert await hb.record_ids(HB_NINO, ask) == ["HB-1", "HB-9"]
    assert await dwp.people_of([("nino", MARGARET_NINO), ("id", "1"), ("id", "2"), ("id", "404")], ask) == [
        ("1", MARGARET.date_of_birth),
        ("2", PROTECTED.date_of_birth),
    ]
    assert await dwp.homes(["1", "404"], ask) == {"1": ("household:7", "address:NT11AA/1HIGHSTREET")}
    assert await hb.open_claims([("nino", HB_NINO), ("id", "HB-404")], ask) == [("HB-1", COUNCIL)]
    asked = [r.fields for r in subgraphs["dwp"].received]
    assert asked == [
        {"DwpPerson.nino", "DwpPerson.recordIds"},
        {"DwpPerson.nino", "DwpPerson.recordIds"},
        {"DwpPerson.nino", "DwpPerson.recordId", "DwpPerson.recordIds", "DwpPerson.dateOfBirth"},
        {"DwpPerson.recordId", "DwpPerson.homeKeys"},
    ]
    assert subgraphs["hb"].received[-1].fields == {
        "HbPerson.nino",
        "HbPerson.recordId",
        "HbPerson.openClaims",
        "OpenClaim.claimRef",
        "OpenClaim.councilCode",
    }


# -- candidate search ----------------------------------------------------------------------------------


def _candidate(i: int, q: dict[str, Any]) -> list[dict[str, Any]]:
    if q["family"] != "JONES":
        return []
    return [
        {
            "recordId": f"r{i}",
            "nino": None,
            "givenName": q["given"].title(),
            "familyName": "Jones",
            "dateOfBirth": q["dob"],
            "postcode": q["postcode"],
            "addressLine1": "1 High Street",
            "addressLine2": None,
            "town": None,
            "nhsNumber": "9434765919",
        }
    ]


async def test_candidates_are_searched_in_chunks_under_the_linkage_purpose(subgraphs: Any, connect: Any) -> None:
    fake = subgraphs["social_care"].fake
    fake.candidates = _candidate
    queries = [
        Demographics(
            given_name=f"Ann{i}",
            family_name="Jones" if i % 7 == 0 else "Smith",
            dob=f"1950-03-{1 + i % 28:02d}",
            postcode="nt1 1aa",
        )
        for i in range(2 * CANDIDATE_CHUNK + 50)
    ]
    ask = make_ask(SELECTIONS["social_care"])
    found = await connect("social_care").find_candidates(queries, ask)
    received = fake.received
    assert [len(orjson.loads(r.body)["variables"]["q"]) for r in received] == [100, 100, 50]
    for r in received:
        assert r.assertion is not None
        assert r.assertion.purpose == LINKAGE_PURPOSE
        assert (r.assertion.org, r.assertion.audit_id) == (ask.org, ask.audit_id)
        assert r.fields == r.assertion.fields
        assert "Query.candidates" in r.fields
        assert "Candidate.nhsNumber" in r.fields
    # The blocking keys are the hub's own (query_batch), one object per query, dates ISO.
    sent = [q for r in received for q in orjson.loads(r.body)["variables"]["q"]]
    batch = query_batch(queries).args
    assert [q["family"] for q in sent] == batch[2]
    assert [q["dobSwapped"] for q in sent] == [d.isoformat() if d else None for d in batch[4]]
    assert [i for i, _ in found] == [i for i in range(len(queries)) if i % 7 == 0]
    i, record = found[3]
    assert record == Demographics(
        given_name=f"Ann{i}",
        family_name="Jones",
        dob=dt.date.fromisoformat(str(queries[i].dob)),
        postcode="NT1 1AA",
        address_line1="1 High Street",
        nhs_number="9434765919",
        record_id=f"r{i}",
    )


async def test_a_candidate_for_no_query_fails_the_search(subgraphs: Any, connect: Any) -> None:
    fake = subgraphs["dwp"].fake
    fake.candidates = _candidate
    fake.misbehave = "candidate_out_of_range"
    with pytest.raises(SourceUnavailable, match="malformed"):
        await connect("dwp").find_candidates(
            [Demographics(given_name="A", family_name="Jones", dob="1950-01-01")], make_ask(SELECTIONS["dwp"])
        )


# -- wiring ----------------------------------------------------------------------------------------------


async def test_the_three_sources_are_built_from_their_urls(subgraphs: Any, signer: Any) -> None:
    sources = subgraph_sources(
        {name: s.url for name, s in subgraphs.items()}, signer=signer, timeout=1.0, breaker_threshold=2
    )
    try:
        assert isinstance(sources.dwp, DwpSubgraph)
        assert isinstance(sources.hb, HbSubgraph)
        assert isinstance(sources.social_care, CareSubgraph)
        assert sources.dwp.breaker is not sources.hb.breaker  # one breaker per source
        assert sources.dwp.breaker.threshold == 2
        ties = await sources.hb.ties([("nino", HB_NINO)], make_ask({}))
        assert ties == [(frozenset({COUNCIL}), frozenset({"NT1"}))]
    finally:
        await aclose_sources(sources)
    with pytest.raises(ValueError, match="no subgraph URL for: social_care"):
        subgraph_sources({"dwp": "http://a", "hb": "http://b"}, signer=signer, timeout=1.0)


async def test_one_source_alone_over_its_subgraph(subgraphs: Any, signer: Any) -> None:
    # A hub reading the others directly builds only this one.
    care = subgraph_source("social_care", subgraphs["social_care"].url, signer=signer, timeout=1.0)
    try:
        assert isinstance(care, CareSubgraph)
        assert await care.record_ids(CARE_NINO, make_ask({})) == ["C-1"]
    finally:
        await care.aclose()
    with pytest.raises(ValueError, match="no source named 'dvla'"):
        subgraph_source("dvla", "http://a", signer=signer, timeout=1.0)


@pytest.mark.parametrize("url", ["ftp://dwp.example", "http://", "https://dwp.example/?q=1", "dwp.example"])
def test_a_bad_subgraph_url_fails_at_start_up(url: str, signer: Any) -> None:
    with pytest.raises(ValueError, match="subgraph URL"):
        DwpSubgraph(url, signer=signer, timeout=1.0)
