"""The hub's own questions (ties, record ids, homes, open claims, candidate search) answer what the direct
adapter answers, within the assertion's councils and only for the purposes that need them; a protected
address is null with ADDRESS_PROTECTED."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from linkage import Demographics
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.demographics import query_batch
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.social_care import SocialCareSource
from tests.people import ALL, BADGE_DLA, CARE_ONLY, PIP_MOVING
from tests.subgraphs.conftest import (
    COUNCIL,
    OTHER_COUNCIL,
    OTHER_ONLY,
    Running,
    ask,
    call,
    entities_document,
    owner_url,
    start_subgraph,
    subgraph_env,
)

ADAPTERS: dict[str, Any] = {"dwp": DwpSource, "hb": HousingBenefitSource, "social_care": SocialCareSource}


async def adapter(stores: Settings, source: str) -> tuple[Any, asyncpg.Pool]:
    pool = await create_store_pool(owner_url(stores, f"src_{source}"))  # type: ignore[arg-type]
    return ADAPTERS[source](pool, timeout=5), pool


def rep(entity: str, nino: str | None = None, record_id: str | None = None) -> dict[str, str]:
    return {"__typename": entity, **({"nino": nino} if nino else {"recordId": record_id or ""})}


async def test_dwp_ties_record_ids_and_homes(
    subgraphs: dict[str, Running], stores: Settings, signer: AssertionSigner
) -> None:
    selection = {"DwpPerson": frozenset({"councils", "postcodeDistricts", "recordIds"})}
    document = entities_document("DwpPerson", "councils postcodeDistricts recordIds")
    answer = await call(
        signer,
        subgraphs["dwp"],
        document,
        {"r": [rep("DwpPerson", BADGE_DLA), rep("DwpPerson", record_id="2")]},
        ask(selection, purpose="CORRECTION_ROUTING", councils=None),
    )
    assert answer.status == 200, answer.body
    source, pool = await adapter(stores, "dwp")
    try:
        ties = await source.ties([("nino", BADGE_DLA), ("id", "2")])
        ids = await source.record_ids(BADGE_DLA)
        homes = await source.homes(["1"])
    finally:
        await pool.close()
    assert answer.body["data"]["_entities"] == [
        {
            "__typename": "DwpPerson",
            "councils": sorted(ties[0][0]),
            "postcodeDistricts": sorted(ties[0][1]),
            "recordIds": ids,
        },
        {
            "__typename": "DwpPerson",
            "councils": sorted(ties[1][0]),
            "postcodeDistricts": sorted(ties[1][1]),
            "recordIds": ["2"],
        },
    ]
    assert answer.body["data"]["_entities"][0]["postcodeDistricts"] == ["NT1"]
    # One batch of tie look-ups for the request, not one per person.
    # fetch, ties and record ids: one statement per kind of key each
    assert len([s for s in answer.spans if s["name"].startswith("SELECT")]) == 2 + 2 + 2

    audit = await call(
        signer,
        subgraphs["dwp"],
        entities_document("DwpPerson", "homeKeys"),
        {"r": [rep("DwpPerson", BADGE_DLA)]},
        ask({"DwpPerson": frozenset({"homeKeys"})}, purpose="AUDIT", councils=None),
    )
    assert audit.body["data"]["_entities"] == [{"__typename": "DwpPerson", "homeKeys": sorted(homes["1"])}]


async def test_hb_open_claims_and_ties_within_the_councils(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    selection = {
        "HbPerson": frozenset({"councils", "openClaims"}),
        "OpenClaim": frozenset({"claimRef", "councilCode"}),
    }
    document = entities_document("HbPerson", "councils openClaims { claimRef councilCode }")
    variables = {"r": [rep("HbPerson", BADGE_DLA), rep("HbPerson", PIP_MOVING)]}
    scoped = await call(signer, subgraphs["hb"], document, variables, ask(selection, purpose="CHANGE_OF_CIRCUMSTANCES"))
    assert scoped.body["data"]["_entities"] == [
        {
            "__typename": "HbPerson",
            "councils": ["E09000901"],
            "openClaims": [{"claimRef": "HB0000001", "councilCode": "E09000901"}],
        },
        None,  # a claim at another council only: not held, for this council
    ]
    national = await call(
        signer, subgraphs["hb"], document, variables, ask(selection, purpose="CHANGE_OF_CIRCUMSTANCES", councils=None)
    )
    assert national.body["data"]["_entities"][1] == {
        "__typename": "HbPerson",
        "councils": ["E09000902"],
        "openClaims": [{"claimRef": "HB0000041", "councilCode": "E09000902"}],
    }


async def test_care_record_ids_within_the_councils(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    selection = {"CareClient": frozenset({"recordIds", "councils"})}
    document = entities_document("CareClient", "recordIds councils")
    variables = {"r": [rep("CareClient", CARE_ONLY), rep("CareClient", OTHER_ONLY)]}
    answer = await call(
        signer, subgraphs["social_care"], document, variables, ask(selection, purpose="CORRECTION_ROUTING")
    )
    assert answer.body["data"]["_entities"] == [
        {"__typename": "CareClient", "recordIds": ["SC000002"], "councils": ["E09000901"]},
        None,
    ]


CANDIDATE_FIELDS = (
    "query recordId nino givenName familyName dateOfBirth postcode addressLine1 addressLine2 town nhsNumber"
)
LINKAGE_FIELDS = ["Query.candidates", *(f"Candidate.{f}" for f in CANDIDATE_FIELDS.split())]


def blocking(queries: list[Demographics]) -> list[dict[str, Any]]:
    """The hub's keys (query_batch), as the wire's BlockingQuery objects."""
    columns = query_batch(queries).args
    names = [
        "given",
        "family",
        "dob",
        "dobSwapped",
        "postcode",
        "town",
        "monthStart",
        "monthEnd",
        "yearStart",
        "yearEnd",
    ]
    out = []
    for i in range(len(queries)):
        values = [c[i] for c in columns[1:]]
        out.append({n: (v.isoformat() if isinstance(v, dt.date) else v) for n, v in zip(names, values, strict=True)})
    return out


@pytest.mark.parametrize("source", ["dwp", "hb", "social_care"])
async def test_candidates_equal_the_direct_adapter(
    subgraphs: dict[str, Running], stores: Settings, signer: AssertionSigner, source: str
) -> None:
    queries = [
        Demographics(given_name="Margaret", family_name="Okafor", dob=dt.date(1950, 3, 14), postcode="NT1 1AA"),
        Demographics(given_name="Peter", family_name="Lewis", dob=dt.date(1941, 6, 6)),
        Demographics(given_name="Nobody", family_name="Atall", dob=dt.date(1901, 1, 1)),
    ]
    document = f"query($q: [BlockingQuery!]!) {{ candidates(queries: $q) {{ {CANDIDATE_FIELDS} }} }}"
    answer = await call(
        signer,
        subgraphs[source],
        document,
        {"q": blocking(queries)},
        ask({}, purpose="LINKAGE", councils=None),
        fields=LINKAGE_FIELDS,
    )
    assert answer.status == 200, answer.body
    adapter_, pool = await adapter(stores, source)
    try:
        expected = await adapter_.find_candidates(queries)
    finally:
        await pool.close()
    got = sorted((c["query"], c["recordId"], c["familyName"], c["nino"]) for c in answer.body["data"]["candidates"])
    assert got == sorted((i, d.record_id, d.family_name, d.nino) for i, d in expected)
    assert got  # someone is found


async def test_too_many_candidate_queries(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    document = "query($q: [BlockingQuery!]!) { candidates(queries: $q) { query } }"
    answer = await call(
        signer,
        subgraphs["dwp"],
        document,
        {"q": [{"family": "X"}] * 101},
        ask({}, purpose="LINKAGE", councils=None),
        fields=["Query.candidates", "Candidate.query"],
    )
    assert answer.codes == ["TOO_MANY_QUERIES"]
    assert not [s for s in answer.spans if s["name"].startswith("WITH")]


@pytest.fixture(scope="module")
def address_subgraph(stores: Settings, jwks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """DWP's subgraph under an owner's policy that answers addresses for a purpose of its own."""
    folder = tmp_path_factory.mktemp("policy")
    policy = folder / "dwp.toml"
    policy.write_text(
        '[purposes]\nADDRESS_CHECK = ["DwpPerson.nino", "DwpPerson.address", "Address.line1", "Address.postcode"]\n'
    )
    env = {**subgraph_env(stores, "dwp", jwks_file), "WELFARE_SUBGRAPH_POLICY": str(policy)}
    running = start_subgraph("dwp", env, folder / "dwp.log")
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(10)


async def test_a_protected_address_is_never_answered(address_subgraph: Running, signer: AssertionSigner) -> None:
    selection = {"DwpPerson": frozenset({"nino", "address"}), "Address": frozenset({"line1", "postcode"})}
    document = entities_document("DwpPerson", "nino address { line1 postcode }")
    variables = {"r": [rep("DwpPerson", BADGE_DLA), rep("DwpPerson", OTHER_ONLY)]}
    answer = await call(signer, address_subgraph, document, variables, ask(selection, purpose="ADDRESS_CHECK"))
    assert answer.body["data"]["_entities"] == [
        {"__typename": "DwpPerson", "nino": BADGE_DLA, "address": {"line1": "1 Mill Lane", "postcode": "NT1 1AA"}},
        {"__typename": "DwpPerson", "nino": OTHER_ONLY, "address": None},
    ]
    assert [(e["path"], e["extensions"]["code"]) for e in answer.body["errors"]] == [
        (["_entities", 1, "address"], "ADDRESS_PROTECTED")
    ]
    assert "Far Road" not in str(answer.body)
    # The shipped policy has no such purpose: the same question to the standard subgraph is refused.


# -- scope of the ties, and batching ----------------------------------------------------------------------

BOTH = "JK102039B"  # held by HB and social care at both councils (inserted for the test, then removed)


@pytest.fixture
async def at_both_councils(store_conns: dict[str, asyncpg.Connection]) -> Any:
    hb, sc = store_conns["hb"], store_conns["social_care"]
    await hb.execute(
        """INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1,
               postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, overnight_carer_room, start_date)
           VALUES ('HB0000050', $2, $1, 'Tam', 'Lowe', '1970-01-02', '1 Near Road', 'NT9 1AA',
                   'lha', 100.00, 80.00, 1, false, '2022-01-01'),
                  ('HB0000051', $3, $1, 'Tam', 'Lowe', '1970-01-02', '2 Far Road', 'ZZ1 1AA',
                   'lha', 100.00, 80.00, 1, false, '2022-01-01')""",
        BOTH,
        COUNCIL,
        OTHER_COUNCIL,
    )
    await sc.execute(
        """INSERT INTO social_care.client (client_id, council_code, nino, given_name, family_name, date_of_birth,
               postcode) VALUES ('SC000050', $2, $1, 'Tam', 'Lowe', '1970-01-02', 'NT9 1AA'),
                                ('SC000051', $3, $1, 'Tam', 'Lowe', '1970-01-02', 'ZZ1 1AA')""",
        BOTH,
        COUNCIL,
        OTHER_COUNCIL,
    )
    try:
        yield
    finally:
        await hb.execute("DELETE FROM hb.claim WHERE claim_ref IN ('HB0000050', 'HB0000051')")
        await sc.execute("DELETE FROM social_care.client WHERE client_id IN ('SC000050', 'SC000051')")


@pytest.mark.parametrize(("source", "purpose"), [("hb", "CORRECTION_ROUTING"), ("social_care", "CORRECTION_ROUTING")])
async def test_a_record_outside_the_councils_tells_neither_its_council_nor_its_district(
    subgraphs: dict[str, Running], signer: AssertionSigner, at_both_councils: None, source: str, purpose: str
) -> None:
    entity = {"hb": "HbPerson", "social_care": "CareClient"}[source]
    own = {"hb": "HB0000050", "social_care": "SC000050"}[source]
    other = {"hb": "HB0000051", "social_care": "SC000051"}[source]
    fields = frozenset({"councils", "postcodeDistricts", "recordIds"})
    document = entities_document(entity, "councils postcodeDistricts recordIds")
    variables = {"r": [rep(entity, BOTH), rep(entity, record_id=own)]}
    scoped = await call(signer, subgraphs[source], document, variables, ask({entity: fields}, purpose=purpose))
    assert scoped.status == 200, scoped.body
    mine = {"__typename": entity, "councils": [COUNCIL], "postcodeDistricts": ["NT9"], "recordIds": [own]}
    assert scoped.body["data"]["_entities"] == [mine, mine], scoped.body
    every = await call(
        signer, subgraphs[source], document, variables, ask({entity: fields}, purpose=purpose, councils=None)
    )
    assert every.body["data"]["_entities"][0] == {
        "__typename": entity,
        "councils": sorted([COUNCIL, OTHER_COUNCIL]),
        "postcodeDistricts": ["NT9", "ZZ1"],
        "recordIds": sorted([own, other]),
    }


def _selects(answer: Any) -> int:
    spans = answer.spans
    assert len(spans) < 64, "the span list was cut off: more statements than a handful"
    return len([s for s in spans if s["name"].startswith("SELECT")])


async def test_a_thousand_representations_are_a_handful_of_statements(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    held = [BADGE_DLA, PIP_MOVING, CARE_ONLY, *ALL]
    many = [held[i % len(held)] for i in range(1000)]

    def reps(entity: str) -> list[dict[str, str]]:
        return [rep(entity, n) for n in many[:900]] + [rep(entity, record_id=str(i)) for i in range(100)]

    dwp = await call(
        signer,
        subgraphs["dwp"],
        entities_document("DwpPerson", "homeKeys"),
        {"r": reps("DwpPerson")},
        ask({"DwpPerson": frozenset({"homeKeys"})}, purpose="AUDIT", councils=None),
    )
    assert dwp.status == 200, dwp.body
    assert sum(1 for e in dwp.body["data"]["_entities"] if e and e["homeKeys"]) > 100
    assert _selects(dwp) <= 2 + 2 + 1  # fetch by kind of key; people by kind of key; their homes

    ids = await call(
        signer,
        subgraphs["dwp"],
        entities_document("DwpPerson", "recordIds councils postcodeDistricts"),
        {"r": reps("DwpPerson")},
        ask(
            {"DwpPerson": frozenset({"recordIds", "councils", "postcodeDistricts"})},
            purpose="CORRECTION_ROUTING",
            councils=None,
        ),
    )
    assert ids.status == 200, ids.body
    assert _selects(ids) <= 2 + 2 + 2

    selection = {
        "HbPerson": frozenset({"openClaims"}),
        "OpenClaim": frozenset({"claimRef", "councilCode"}),
    }
    hb = await call(
        signer,
        subgraphs["hb"],
        entities_document("HbPerson", "openClaims { claimRef councilCode }"),
        {"r": [rep("HbPerson", n) for n in many]},
        ask(selection, purpose="CHANGE_OF_CIRCUMSTANCES"),
    )
    assert hb.status == 200, hb.body
    assert any(e and e["openClaims"] for e in hb.body["data"]["_entities"])
    assert _selects(hb) <= 1 + 1


async def test_an_hb_claims_members_are_answered_over_the_wire_as_the_adapter_answers(
    subgraphs: dict[str, Running], stores: Settings, signer: AssertionSigner
) -> None:
    """A partner of claim HB0000001 is tied to its council and told of changes, by record id or NINO; a
    non-dependant is no entity (the claim is not theirs): over the subgraph exactly as over the adapter."""
    owner = await asyncpg.connect(owner_url(stores, "src_hb"))  # type: ignore[arg-type]
    await owner.execute(
        "INSERT INTO hb.partner (partner_id, claim_ref, nino, given_name, family_name, date_of_birth) "
        "VALUES (501, 'HB0000001', 'wp 50 10 01 a', 'Lorcan', 'Featherstonehaugh', '1950-01-20')"
    )
    await owner.execute(
        "INSERT INTO hb.non_dependant (non_dependant_id, claim_ref, nino, given_name, family_name, date_of_birth) "
        "VALUES (502, 'HB0000001', 'WP502001A', 'Isolde', 'Featherstonehaugh', '1985-07-07')"
    )
    direct, pool = await adapter(stores, "hb")
    try:
        selection = {
            "HbPerson": frozenset({"councils", "openClaims"}),
            "OpenClaim": frozenset({"claimRef", "councilCode"}),
        }
        document = entities_document("HbPerson", "councils openClaims { claimRef councilCode }")
        keys = [("id", "HB0000001/P501"), ("nino", "WP501001A"), ("id", "HB0000001/N502"), ("nino", "WP502001A")]
        reps = [rep("HbPerson", record_id=v) if k == "id" else rep("HbPerson", nino=v) for k, v in keys]
        answer = await call(
            signer, subgraphs["hb"], document, {"r": reps}, ask(selection, purpose="CHANGE_OF_CIRCUMSTANCES")
        )
        partner = {
            "__typename": "HbPerson",
            "councils": ["E09000901"],
            "openClaims": [{"claimRef": "HB0000001", "councilCode": "E09000901"}],
        }
        assert answer.body["data"]["_entities"] == [partner, partner, None, None]
        ties = await direct.ties(keys)
        assert [sorted(c) for c, _ in ties] == [["E09000901"], ["E09000901"], [], []]
        for key, claims in zip(keys, ([("HB0000001", "E09000901")],) * 2 + ([],) * 2, strict=True):
            assert await direct.open_claims([key]) == claims, key
    finally:
        await owner.execute("DELETE FROM hb.non_dependant WHERE non_dependant_id = 502")
        await owner.execute("DELETE FROM hb.partner WHERE partner_id = 501")
        await owner.close()
        await pool.close()
