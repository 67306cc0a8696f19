"""Records without a date of birth on real PostgreSQL: the council stores hold NULL (migrations 0006 in
src_hb, 0004 in src_social_care), the adapters hand a missing or placeholder date of birth to linkage as
None (per source configuration), and the batch build and an online look-up link such records on what they
do hold, never to someone else, and never by a placeholder.

The stores are this module's own: synthetic people (households, twins, missing and wrong NINOs) with many
more council records lacking a date of birth than the generator's defaults (so the cases are many), and a
few people written here, whose band each test names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import string
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.errors import ConfigError
from hub.ops.linking import build_links, train_model
from hub.ops.linking.federated import linkage_ask
from hub.ops.migrate import drop_stores, migrate
from hub.ops.synth import SynthParams, generate, load
from hub.types import SOURCE_STORES
from linkage import PLACEHOLDER_DOBS, Band, Demographics, FSModel, Thresholds, parse_placeholder_dobs
from linkage.link import decide, person_key_for
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource
from resolvers.sources.contract import CANDIDATE_FIELDS
from resolvers.sources.remote.candidates import blocking_queries, decode_candidates

PEOPLE = 3300
THRESHOLDS = Thresholds()
EPOCH = dt.date(1970, 1, 1)

# People written here (person ids far above the synthetic ones): Zebedee Quaxworth and his housemate.
ZEBEDEE, HORTENSIA = 900_001, 900_002
ZEBEDEE_NINO, HORTENSIA_NINO = "WX901234A", "WX901235B"
HOME = {"postcode": "NT1 9QQ", "address_line1": "7 Quarry Hill", "town": "Northtown"}
# A care home of DWP records all entered with 1900-01-01 (legacy data: the spine refuses NULL).
CARE_HOME = "NT9 9CH"
RESIDENTS = 300


def _names(n: int) -> list[tuple[str, str]]:
    """``n`` pairs of names of random letters: no two alike, none like anyone else's (close names would be
    "similar" and compete; names keep letters only, digits would normalise away)."""
    rng = random.Random(20261207)
    out: set[tuple[str, str]] = set()
    while len(out) < n:
        # None begins with Z: a query for a Z-named stranger there shares no "postcode and initial" key.
        out.add(tuple("".join(rng.choice(string.ascii_uppercase[:25]) for _ in range(7)).title() for _ in range(2)))  # type: ignore[arg-type]
    return sorted(out)


NAMES = _names(RESIDENTS)
RESIDENT_7 = NAMES[7]


@dataclasses.dataclass
class Built:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    model: FSModel
    links: dict[tuple[str, str], asyncpg.Record]


async def _write_people(admin: dict[str, asyncpg.Connection]) -> None:
    dwp, hb, sc = admin["src_dwp"], admin["src_hb"], admin["src_social_care"]
    for nino in (ZEBEDEE_NINO, HORTENSIA_NINO):
        assert await dwp.fetchval("SELECT count(*) FROM dwp.person WHERE nino = $1", nino) == 0
    person = (
        "INSERT INTO dwp.person (person_id, nino, given_name, family_name, date_of_birth, address_line1, town, "
        "postcode, household_id, household_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    home = (HOME["address_line1"], HOME["town"], HOME["postcode"])
    await dwp.execute(
        person, ZEBEDEE, ZEBEDEE_NINO, "Zebedee", "Quaxworth", dt.date(1948, 2, 11), *home, 900_001, "claimant"
    )
    await dwp.execute(
        person, HORTENSIA, HORTENSIA_NINO, "Hortensia", "Quaxworth", dt.date(1951, 9, 3), *home, 900_001, "partner"
    )
    await dwp.executemany(
        person,
        [
            (900_100 + i, f"WX{800_000 + i:06d}A", *NAMES[i], dt.date(1900, 1, 1),
             f"Room {i}, Hill House", "Northtown", CARE_HOME, 900_100 + i, "claimant")
            for i in range(RESIDENTS)
        ],
    )  # fmt: skip
    claim = (
        "INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1, "
        "town, postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, start_date) "
        "VALUES ($1, 'E09000901', $2, $3, $4, $5, $6, $7, $8, 'social', 100, 80, 1, '2024-04-01')"
    )
    await hb.executemany(
        claim,
        [
            # No NINO, no date of birth: his name and his home.
            ("HBDOB1", None, "Zebedee", "Quaxworth", None, *home),
            # His NINO, no date of birth, his names: the NINO links.
            ("HBDOB2", ZEBEDEE_NINO, "Zebedee", "Quaxworth", None, *home),
            # His NINO on a record of someone else at his home, no date of birth: never a link.
            ("HBDOB3", ZEBEDEE_NINO, "Peregrine", "Quaxworth", None, *home),
            # His NINO, no date of birth, a stranger's names (a mistyped NINO): never a link.
            ("HBDOB4", ZEBEDEE_NINO, "Zebedee", "Okonkwo-Blythe", None, "3 Low Road", "Southbury", "SB1 2AB"),
        ],
    )
    client = (
        "INSERT INTO social_care.client (client_id, council_code, nino, given_name, family_name, date_of_birth, "
        "address_line1, town, postcode) VALUES ($1, 'E09000901', NULL, $2, $3, $4, $5, $6, $7)"
    )
    await sc.executemany(
        client,
        [
            # The placeholder social care systems record: read as missing, his name and his home link.
            ("SCDOB1", "Zebedee", "Quaxworth", dt.date(1900, 1, 1), *home),
            # A resident of the care home, entered with 1900-01-01 like all of them: their name links them.
            ("SCDOB2", *RESIDENT_7, dt.date(1900, 1, 1), "Room 7, Hill House", "Northtown", CARE_HOME),
        ],
    )


@pytest.fixture(scope="module")
async def built(settings: Settings) -> AsyncIterator[Built]:
    s = dataclasses.replace(settings, db_prefix=f"d{uuid.uuid4().hex[:10]}_")
    await migrate(s)
    # Many more council records without a date of birth than real councils hold: the cases are what is tested.
    params = SynthParams(
        people=PEOPLE,
        seed=23,
        hb_dob_missing_rate=0.06,
        hb_dob_placeholder_rate=0.04,
        non_dependant_dob_missing_rate=0.06,
        non_dependant_dob_placeholder_rate=0.04,
        social_care_dob_missing_rate=0.08,
        social_care_dob_placeholder_rate=0.06,
    )
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        await load({k: v for k, v in admin.items() if k != "hub"}, generate(params))
        await _write_people(admin)
        model = await train_model(s, sample=PEOPLE)
        await build_links(s, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
        rows = await admin["hub"].fetch("SELECT * FROM hub.link WHERE source <> 'dwp'")
        yield Built(s, admin, model, {(r["source"], r["source_record_id"]): r for r in rows})
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
        await drop_stores(s)


# -- the stores ---------------------------------------------------------------------------------------


async def test_council_stores_may_hold_no_date_of_birth_and_the_spine_always_does(built: Built) -> None:
    # DWP allocates a NINO on evidence of identity, date of birth included, and entitlement (State Pension
    # age) is computed from it: its spine holds one for everyone, and keeps refusing NULL.
    columns = {
        ("src_hb", "hb", "claim"): "YES",
        ("src_hb", "hb", "non_dependant"): "YES",
        ("src_social_care", "social_care", "client"): "YES",
        ("src_dwp", "dwp", "person"): "NO",
    }
    for (store, schema, table), nullable in columns.items():
        found = await built.admin[store].fetchval(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = $2 AND column_name = 'date_of_birth'",
            schema,
            table,
        )
        assert found == nullable, f"{schema}.{table}"
    # The generator wrote NULL where the system has none, and placeholders too.
    for store, table in (
        ("src_hb", "hb.claim"),
        ("src_hb", "hb.non_dependant"),
        ("src_social_care", "social_care.client"),
    ):
        counts = await built.admin[store].fetchrow(
            f"SELECT count(*) FILTER (WHERE date_of_birth IS NULL) AS missing, "
            f"count(*) FILTER (WHERE date_of_birth IN ('1900-01-01', '1901-01-01')) AS placeholder FROM {table}"
        )
        assert counts["missing"] > 0, table
        assert counts["placeholder"] > 0, table


# -- the adapters ---------------------------------------------------------------------------------------


@pytest.fixture
async def pools(built: Built) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    opened = {
        store: await create_store_pool(built.settings.service_url(store), acquire_timeout=5) for store in SOURCE_STORES
    }
    try:
        yield opened
    finally:
        await asyncio.gather(*(p.close() for p in opened.values()))


async def test_a_missing_or_placeholder_date_of_birth_reaches_linkage_as_none(
    built: Built, pools: dict[str, asyncpg.Pool]
) -> None:
    hb = HousingBenefitSource(pools["src_hb"], timeout=5)
    sc = SocialCareSource(pools["src_social_care"], timeout=5)
    (claim,) = await hb.by_record_ids(["HBDOB1"])
    (client,) = await sc.by_record_ids(["SCDOB1"])
    assert claim.dob is None  # NULL in the store
    assert client.dob is None  # 1900-01-01 in the store
    # What the source holds beside it is carried as held.
    assert (client.given_name, client.family_name, client.postcode) == ("Zebedee", "Quaxworth", HOME["postcode"])
    # Scanned (the batch build's read) and fed (the federated build's), the same.
    scanned = {r.record_id: r for r in await sc.scan(sc.people.first_cursor, 100_000)}
    assert scanned["SCDOB1"].dob is None
    assert [r.dob for r in await sc.feed("SCDOB0", 1)] == [None]
    # A record read in full (its claims) is none the worse for it.
    (record,) = await hb.fetch([("id", "HBDOB1")], linkage_ask(uuid.uuid4()))
    assert record is not None


async def test_a_sources_own_placeholder_is_its_configuration(built: Built, pools: dict[str, asyncpg.Pool]) -> None:
    await built.admin["src_social_care"].execute(
        "UPDATE social_care.client SET date_of_birth = $1 WHERE client_id = 'SCDOB2'", EPOCH
    )
    try:
        default = SocialCareSource(pools["src_social_care"], timeout=5)
        epoch = SocialCareSource(
            pools["src_social_care"], timeout=5, placeholder_dobs=parse_placeholder_dobs("1970-01-01")
        )
        as_held = SocialCareSource(pools["src_social_care"], timeout=5, placeholder_dobs=frozenset())
        assert [r.dob for r in await default.by_record_ids(["SCDOB2"])] == [EPOCH]  # a real birthday by default
        assert [r.dob for r in await epoch.by_record_ids(["SCDOB2", "SCDOB1"])] == [None, None]
        assert sorted(str(r.dob) for r in await as_held.by_record_ids(["SCDOB1", "SCDOB2"])) == [
            "1900-01-01",
            "1970-01-01",
        ]
    finally:
        await built.admin["src_social_care"].execute(
            "UPDATE social_care.client SET date_of_birth = '1900-01-01' WHERE client_id = 'SCDOB2'"
        )


async def test_a_placeholder_is_no_key_of_the_spines_candidate_search(
    built: Built, pools: dict[str, asyncpg.Pool]
) -> None:
    # Someone at the care home, entered with 1900-01-01 like its 300 residents, whose names none of them
    # share: the date of birth finds no one. Read as a date, "date of birth and postcode" finds a hundred
    # (its cap: there are 300).
    query = Demographics(given_name="Zebedee", family_name="Nobody", dob=dt.date(1900, 1, 1), postcode=CARE_HOME)
    dwp = DwpSource(pools["src_dwp"], timeout=5)
    as_dates = DwpSource(pools["src_dwp"], timeout=5, placeholder_dobs=frozenset())
    assert await dwp.find_candidates([query]) == []
    assert len(await as_dates.find_candidates([query])) >= 100  # the key's cap, and any other key's finds
    # The spine's records carrying it reach linkage without it.
    found = await dwp.find_candidates([dataclasses.replace(query, given_name=RESIDENT_7[0], family_name=RESIDENT_7[1])])
    assert str(900_107) in {c.record_id for _, c in found}
    assert {c.dob for _, c in found} == {None}


async def test_an_online_lookup_without_a_real_date_of_birth_finds_the_person(
    built: Built, pools: dict[str, asyncpg.Pool]
) -> None:
    # The demographic fallback's two steps (hub.records.links decides with linkage.link.decide): the spine's
    # candidates, then the model. A placeholder typed in is decided as no date of birth at all.
    dwp = DwpSource(pools["src_dwp"], timeout=5)
    decisions = []
    for dob in (None, dt.date(1900, 1, 1), dt.date(1, 1, 1)):
        query = Demographics(given_name="Zebedee", family_name="Quaxworth", dob=dob, postcode=HOME["postcode"])
        (decision,) = decide([query], await dwp.find_candidates([query]), model=built.model, thresholds=THRESHOLDS)
        decisions.append(decision)
    for decision in decisions:
        assert decision.band is Band.LINK
        assert decision.chosen is not None
        assert decision.chosen.spine_record_id == str(ZEBEDEE)
    assert len({d.chosen.probability for d in decisions if d.chosen}) == 1


def test_a_subgraphs_answer_as_held_reaches_linkage_without_its_placeholder() -> None:
    # A subgraph answers dates of birth as held; the hub reads them with the source's configuration.
    held = dict.fromkeys(CANDIDATE_FIELDS)
    answer = {
        "data": {
            "candidates": [
                {**held, "query": 0, "recordId": "a", "dateOfBirth": "1900-01-01"},
                {**held, "query": 0, "recordId": "b", "dateOfBirth": None},
                {**held, "query": 0, "recordId": "c", "dateOfBirth": "1970-01-01"},
            ]
        }
    }
    default = [r.dob for _, r in decode_candidates(answer, 1)]
    assert default == [None, None, dt.date(1970, 1, 1)]
    epoch = [r.dob for _, r in decode_candidates(answer, 1, placeholders=parse_placeholder_dobs("1970-01-01"))]
    assert epoch == [None, None, None]
    # And a query's placeholder is sent as no date of birth at all: no key the subgraph could search by.
    (keys,) = blocking_queries([Demographics(given_name="A", family_name="B", dob=dt.date(1900, 1, 1))])
    assert {k: v for k, v in keys.items() if v is not None} == {"given": "A", "family": "B"}


# -- the batch build ------------------------------------------------------------------------------------


async def test_records_without_a_date_of_birth_link_to_their_person_and_never_another(built: Built) -> None:
    truth: dict[tuple[str, str], tuple[str, dt.date | None]] = {}
    for source, store, table, column, prefix in (
        ("hb", "src_hb", "hb.claim", "claim_ref", "hb:"),
        ("social_care", "src_social_care", "social_care.client", "client_id", "sc:"),
    ):
        for r in await built.admin[store].fetch(
            f"SELECT t.{column} AS rid, t.date_of_birth, r.true_person_id FROM {table} t "
            f"JOIN synth_truth.record_identity r ON r.record_id = $1 || t.{column}",
            prefix,
        ):
            truth[(source, r["rid"])] = (str(r["true_person_id"]), r["date_of_birth"])
    wrong = right = without = 0
    for key, (person, dob) in truth.items():
        link = built.links[key]
        if link["band"] == "link":
            correct = link["person_key"] == person_key_for(person)
            wrong += not correct
            if dob is None or dob in PLACEHOLDER_DOBS:
                right += correct
        without += dob is None or dob in PLACEHOLDER_DOBS
    assert wrong == 0  # a false link releases someone else's data
    assert without > 150, "the stores must hold many records without a date of birth"
    # Before placeholders were read as missing, fewer than one in ten of them linked (bench/results).
    assert right / without >= 0.9, f"{right} of {without} records without a date of birth linked"


# (source, record, expected band, method, the person it links to)
WRITTEN = [
    ("hb", "HBDOB1", "link", "probabilistic", ZEBEDEE),
    ("hb", "HBDOB2", "link", "nino", ZEBEDEE),
    ("hb", "HBDOB3", "review", "nino", None),
    ("hb", "HBDOB4", "review", "nino", None),
    ("social_care", "SCDOB1", "link", "probabilistic", ZEBEDEE),
    ("social_care", "SCDOB2", "link", "probabilistic", 900_107),
]


@pytest.mark.parametrize(("source", "record", "band", "method", "person"), WRITTEN, ids=[w[1] for w in WRITTEN])
async def test_written_records_are_decided_as_expected(
    built: Built, source: str, record: str, band: str, method: str, person: int | None
) -> None:
    link = built.links[(source, record)]
    assert (link["band"], link["method"]) == (band, method), (link["probability"], link["evidence"])
    assert link["person_key"] == (person_key_for(str(person)) if person is not None else None)
    if band == "review":
        # A NINO with a name that is not its holder's, and no date of birth to say otherwise: a person decides.
        items = await built.admin["hub"].fetch(
            "SELECT reason, candidate_person FROM hub.review_item WHERE source = $1 AND source_record_id = $2",
            source,
            record,
        )
        assert "nino_conflict" in {i["reason"] for i in items}
        assert person_key_for(str(ZEBEDEE)) in {i["candidate_person"] for i in items}


# -- configuration ---------------------------------------------------------------------------------------


def test_placeholders_are_configured_per_source_and_bad_dates_refused() -> None:
    settings = Settings.from_environ({"WELFARE_HUB_SOCIAL_CARE_DOB_PLACEHOLDERS": "1970-01-01, 1111-11-11"})
    assert settings.placeholder_dobs("social_care") == PLACEHOLDER_DOBS | {EPOCH, dt.date(1111, 11, 11)}
    assert settings.placeholder_dobs("hb") == settings.placeholder_dobs("dwp") == PLACEHOLDER_DOBS
    with pytest.raises(ConfigError) as refused:
        Settings.from_environ(
            {"WELFARE_HUB_HB_DOB_PLACEHOLDERS": "01/01/1900", "WELFARE_HUB_DWP_DOB_PLACEHOLDERS": "1900-02-30"}
        )
    message = str(refused.value)
    assert "WELFARE_HUB_HB_DOB_PLACEHOLDERS" in message
    assert "'01/01/1900'" in message
    assert "WELFARE_HUB_DWP_DOB_PLACEHOLDERS" in message
    assert "'1900-02-30'" in message
