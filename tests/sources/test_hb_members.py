"""Every member of a Housing Benefit claim is a person record, on real PostgreSQL: the claimant, the partner
who claims with them, and the household's non-dependants (src_hb migration 0008). Each is linked to their
own person by the batch build, never to another member of the household; a fetch by a member's record id
or NINO answers the claim for the claimant and partner (a couple claims jointly) and nothing of it for a
non-dependant, whose record still ties them to the council and routes a change about them to the claim.

The stores are this module's own: a synthetic population whose claims have partners and non-dependants
(hub.ops.synth.housing), and two households written here with names no one else has.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.ops.linking import build_links, train_model
from hub.ops.migrate import drop_stores, migrate
from hub.ops.synth import SynthParams, generate, load
from hub.types import SOURCE_STORES
from linkage import Thresholds
from linkage.link import person_key_for
from resolvers.sources import HousingBenefitSource
from resolvers.sources.base import HeldChange
from tests.asks import full_ask

PEOPLE = 2500
THRESHOLDS = Thresholds()
COUNCIL = "E09000901"
HOME = ("11 Cobblers Wynd", "Northtown", "NT1 9CW")
OTHER_HOME = ("3 Lantern Yard", "Northtown", "NT2 4LY")

# DWP's records: (person id, NINO, given, family, date of birth, home)
GWENDOLINE, ALOYSIUS, PEREGRINE = 920_001, 920_002, 920_003  # a couple and their adult son, one home
MARGUERITE, TOBIAS = 920_004, 920_005  # a couple; his record on their claim carries her NINO
OTTILIE = 920_006  # their adult daughter, her NINO on her record as a non-dependant
EVANDER = 920_007  # Marguerite's partner before Tobias, still on file
SPINE: list[tuple[Any, ...]] = [
    (GWENDOLINE, "WY920001A", "Gwendoline", "Fairweather-Ashdown", dt.date(1958, 2, 11), HOME),
    (ALOYSIUS, "WY920002A", "Aloysius", "Fairweather-Ashdown", dt.date(1956, 9, 3), HOME),
    (PEREGRINE, "WY920003A", "Peregrine", "Fairweather-Ashdown", dt.date(1989, 12, 24), HOME),
    (MARGUERITE, "WY920004A", "Marguerite", "Oyelaran-Tibbs", dt.date(1970, 5, 5), OTHER_HOME),
    (TOBIAS, "WY920005A", "Tobias", "Oyelaran-Tibbs", dt.date(1968, 7, 19), OTHER_HOME),
    (OTTILIE, "WY920006A", "Ottilie", "Oyelaran-Tibbs", dt.date(1995, 3, 28), OTHER_HOME),
    (EVANDER, "WY920007A", "Evander", "Quillington", dt.date(1966, 11, 2), HOME),
]
NON_DEPENDANT, DAUGHTER_ID = 990_001, 990_002
SON, DAUGHTER = f"HBHM1/N{NON_DEPENDANT}", f"HBHM2/N{DAUGHTER_ID}"
PARTNER_1, PARTNER_2, FORMER = "HBHM1/P990101", "HBHM2/P990102", "HBHM2/P990100"

# (record id, expected band, method, person)
EXPECTED = [
    ("HBHM1", "link", "nino", GWENDOLINE),
    (PARTNER_1, "link", "nino", ALOYSIUS),
    # No NINO: his names, date of birth and the claim's address; his parents share the last two.
    (SON, "link", "probabilistic", PEREGRINE),
    ("HBHM2", "link", "nino", MARGUERITE),
    # His names and date of birth with his wife's NINO: him, never her.
    (PARTNER_2, "link", "probabilistic", TOBIAS),
    (DAUGHTER, "link", "nino", OTTILIE),
    (FORMER, "link", "nino", EVANDER),
]


@dataclasses.dataclass
class Built:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    links: dict[tuple[str, str], asyncpg.Record]
    truth: dict[str, int]
    roles: dict[str, str]


async def _write_households(admin: dict[str, asyncpg.Connection]) -> None:
    role = {
        GWENDOLINE: "claimant",
        ALOYSIUS: "partner",
        PEREGRINE: "non_dependant",
        MARGUERITE: "claimant",
        OTTILIE: "non_dependant",
        EVANDER: "claimant",
    }
    await admin["src_dwp"].executemany(
        "INSERT INTO dwp.person (person_id, nino, given_name, family_name, date_of_birth, address_line1, town, "
        "postcode, household_id, household_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            (pid, nino, given, family, dob, *home, 920_000 + (home == HOME), role.get(pid, "partner"))
            for pid, nino, given, family, dob, home in SPINE
        ],
    )
    hb = admin["src_hb"]
    claim = (
        "INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1, "
        "town, postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, overnight_carer_room, "
        "start_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'social', 120, 95, 2, $10, '2023-10-02')"
    )
    await hb.execute(claim, "HBHM1", COUNCIL, "WY 92 00 01 A", "Gwendoline", "Fairweather-Ashdown",
                     dt.date(1958, 2, 11), *HOME, True)  # fmt: skip
    await hb.execute(claim, "HBHM2", COUNCIL, "WY920004A", "Marguerite", "Oyelaran-Tibbs", dt.date(1970, 5, 5),
                     *OTHER_HOME, False)  # fmt: skip
    partner = (
        "INSERT INTO hb.partner (partner_id, claim_ref, nino, given_name, family_name, date_of_birth, left_on) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    await hb.execute(
        partner, 990101, "HBHM1", "wy920002a", "Aloysius", "Fairweather-Ashdown", dt.date(1956, 9, 3), None
    )
    await hb.execute(partner, 990102, "HBHM2", "WY920004A", "Tobias", "Oyelaran-Tibbs", dt.date(1968, 7, 19), None)
    # Left before Tobias came: a record of his own, no longer the claim's.
    await hb.execute(
        partner, 990100, "HBHM2", "WY920007A", "Evander", "Quillington", dt.date(1966, 11, 2), dt.date(2024, 6, 30)
    )
    non_dependant = (
        "INSERT INTO hb.non_dependant (non_dependant_id, claim_ref, nino, given_name, family_name, date_of_birth, "
        "gross_weekly_income) VALUES ($1, $2, $3, $4, $5, $6, 310)"
    )
    await hb.execute(
        non_dependant, NON_DEPENDANT, "HBHM1", None, "Peregrine", "Fairweather-Ashdown", dt.date(1989, 12, 24)
    )
    await hb.execute(
        non_dependant, DAUGHTER_ID, "HBHM2", "WY920006A", "Ottilie", "Oyelaran-Tibbs", dt.date(1995, 3, 28)
    )


@pytest.fixture(scope="module")
async def built(settings: Settings) -> AsyncIterator[Built]:
    s = dataclasses.replace(settings, db_prefix=f"m{uuid.uuid4().hex[:10]}_")
    await migrate(s)
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        await load({k: v for k, v in admin.items() if k != "hub"}, generate(SynthParams(people=PEOPLE, seed=43)))
        await _write_households(admin)
        model = await train_model(s, sample=PEOPLE)
        await build_links(s, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
        rows = await admin["hub"].fetch("SELECT * FROM hub.link WHERE source = 'hb'")
        truth = {
            r["rid"]: r["true_person_id"]
            for r in await admin["src_hb"].fetch(
                "SELECT substr(record_id, 4) AS rid, true_person_id FROM synth_truth.record_identity "
                "WHERE record_id LIKE 'hb:%'"
            )
        }
        roles = {r["record_ref"]: r["role"] for r in await admin["src_hb"].fetch("SELECT * FROM hb.claim_person")}
        yield Built(s, admin, {(r["source"], r["source_record_id"]): r for r in rows}, truth, roles)
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
        await drop_stores(s)


@pytest.fixture
async def hb(built: Built) -> AsyncIterator[HousingBenefitSource]:
    pool = await create_store_pool(built.settings.service_url("src_hb"), acquire_timeout=5)
    try:
        yield HousingBenefitSource(pool, timeout=5)
    finally:
        await pool.close()


async def test_every_member_of_a_claim_is_a_record_at_the_claims_address(
    built: Built, hb: HousingBenefitSource
) -> None:
    records = {r.record_id: r for r in await hb.by_record_ids(["HBHM1", PARTNER_1, SON, "HBHM9/P990101"])}
    assert set(records) == {"HBHM1", PARTNER_1, SON}  # a claim that is not held has no partner
    assert [records[r].given_name for r in ("HBHM1", PARTNER_1, SON)] == ["Gwendoline", "Aloysius", "Peregrine"]
    assert {(r.address_line1, r.town, r.postcode) for r in records.values()} == {HOME}
    assert records[PARTNER_1].nino == "wy920002a"  # as held
    assert records[SON].nino is None
    # Scanned in record-id order (the batch build's read, resumable by the last id), members included.
    scanned = [r.record_id for r in await hb.scan(hb.people.first_cursor, 100_000)]
    assert len(scanned) == len(set(scanned)) == len(built.roles)
    assert {"HBHM1", PARTNER_1, SON, "HBHM2", PARTNER_2, DAUGHTER, FORMER} <= set(scanned)
    assert (built.roles[PARTNER_2], built.roles[FORMER]) == ("partner", "former_partner")
    paged: list[str | None] = []
    cursor: object = hb.people.first_cursor
    while page := await hb.scan(cursor, 997):
        paged += [r.record_id for r in page]
        cursor = page[-1].record_id
    assert paged == scanned  # each page goes on where the last stopped: none twice, none skipped
    # The generator's claims have partners and non-dependants too.
    assert Counter(built.roles.values())["partner"] >= 50
    assert Counter(built.roles.values())["non_dependant"] >= 50


@pytest.mark.parametrize(("record", "band", "method", "person"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_member_links_to_their_own_person(built: Built, record: str, band: str, method: str, person: int) -> None:
    link = built.links[("hb", record)]
    assert (link["band"], link["method"]) == (band, method), (link["probability"], link["evidence"])
    assert link["person_key"] == person_key_for(str(person))


def test_no_member_of_the_population_is_linked_to_someone_else(built: Built) -> None:
    """Every HB record of the synthetic population, claimant, partner or non-dependant: no wrong link, and
    most of each kind link (the rest go to a person)."""
    wrong = []
    seen: Counter[str] = Counter()
    linked: Counter[str] = Counter()
    for rid, person in built.truth.items():
        link = built.links[("hb", rid)]
        role = built.roles[rid]
        seen[role] += 1
        if link["band"] != "link":
            continue
        right = link["person_key"] == person_key_for(str(person))
        linked[role] += right
        if not right:
            wrong.append(rid)
    assert wrong == []
    for role in ("claimant", "partner", "non_dependant"):
        assert linked[role] / seen[role] >= 0.9, f"{linked[role]} of {seen[role]} {role} records linked right"


async def test_the_claim_is_the_claimants_and_the_partners_and_no_one_elses(hb: HousingBenefitSource) -> None:
    ask = full_ask()
    claimant, partner, son, by_nino, claimants_nino, nobody = await hb.fetch(
        [
            ("id", "HBHM1"),
            ("id", PARTNER_1),
            ("id", SON),
            ("nino", "WY920002A"),
            ("nino", "WY920004A"),
            ("id", "HBHM9/P990101"),
        ],
        ask,
    )
    assert claimant is not None
    assert partner is not None
    assert by_nino is not None
    assert [c.claim_ref for c in claimant.claims] == [c.claim_ref for c in partner.claims] == ["HBHM1"]
    assert [c.claim_ref for c in by_nino.claims] == ["HBHM1"]  # the partner's NINO, as held ('wy920002a')
    assert partner.claims[0].non_dependant_count == 1
    # Marguerite's NINO is on her record and on Tobias's: her claim, once.
    assert claimants_nino is not None
    assert [c.claim_ref for c in claimants_nino.claims] == ["HBHM2"]
    # A non-dependant's record, or a former partner's, by id or NINO, releases nothing of the claim.
    assert son is None
    assert nobody is None
    for key in (("id", DAUGHTER), ("nino", "WY920006A"), ("id", FORMER), ("nino", "WY920007A")):
        assert await hb.fetch([key], ask) == [None], key
    # Another council's claim is that council's to share, partner or not.
    assert await hb.fetch([("id", PARTNER_1)], full_ask(councils=frozenset({"E09000902"}))) == [None]


async def test_only_the_claims_holders_are_tied_to_the_council_and_told_of_changes(hb: HousingBenefitSource) -> None:
    ties = await hb.ties([("id", PARTNER_1), ("nino", "WY920002A"), ("id", SON), ("id", DAUGHTER), ("id", FORMER)])
    assert ties[0] == ties[1] == (frozenset({COUNCIL}), frozenset({"NT1"}))
    assert ties[2:] == [(frozenset(), frozenset())] * 3
    assert await hb.record_ids("WY920002A") == [PARTNER_1]  # type: ignore[arg-type]
    assert await hb.record_ids("WY920006A") == []  # type: ignore[arg-type]
    assert await hb.open_claims([("id", PARTNER_1)]) == [("HBHM1", COUNCIL)]
    assert await hb.open_claims([("nino", "WY920002A")]) == [("HBHM1", COUNCIL)]
    assert await hb.open_claims([("id", SON), ("id", DAUGHTER), ("id", FORMER)]) == []


async def test_a_change_routed_by_a_partners_record_while_hb_was_down_lands_on_the_claim(
    built: Built, hb: HousingBenefitSource
) -> None:
    """Routed from the link index (HB not answering), a change names the partner's record: HB reads its claim
    and council, and the claim's team receives it; one routed by a non-dependant's record lands nowhere."""
    changes = [
        HeldChange(uuid.uuid4(), uuid.uuid4(), "hospital_admission", dt.date(2026, 11, 30), PARTNER_1, None, "hub"),
        HeldChange(uuid.uuid4(), uuid.uuid4(), "hospital_admission", dt.date(2026, 11, 30), SON, None, "hub"),
    ]
    assert await hb.deliver(changes) == {PARTNER_1: COUNCIL}
    landed = await built.admin["src_hb"].fetch(
        "SELECT item_id, claim_ref, council_code FROM hb.hub_inbox WHERE item_id = ANY($1::uuid[])",
        [c.delivery_id for c in changes],
    )
    assert [(r["item_id"], r["claim_ref"], r["council_code"]) for r in landed] == [
        (changes[0].delivery_id, "HBHM1", COUNCIL)
    ]
