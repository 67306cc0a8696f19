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
from tests.asks import full_ask

PEOPLE = 2500
THRESHOLDS = Thresholds()
COUNCIL = "E09000901"
HOME = ("11 Cobblers Wynd", "Northtown", "NT1 9CW")
OTHER_HOME = ("3 Lantern Yard", "Northtown", "NT2 4LY")

# DWP's records: (person id, NINO, given, family, date of birth, home)
GWENDOLINE, ALOYSIUS, PEREGRINE = 920_001, 920_002, 920_003  # a couple and their adult son, one home
MARGUERITE, TOBIAS = 920_004, 920_005  # a couple; his record on their claim carries her NINO
SPINE: list[tuple[Any, ...]] = [
    (GWENDOLINE, "WY920001A", "Gwendoline", "Fairweather-Ashdown", dt.date(1958, 2, 11), HOME),
    (ALOYSIUS, "WY920002A", "Aloysius", "Fairweather-Ashdown", dt.date(1956, 9, 3), HOME),
    (PEREGRINE, "WY920003A", "Peregrine", "Fairweather-Ashdown", dt.date(1989, 12, 24), HOME),
    (MARGUERITE, "WY920004A", "Marguerite", "Oyelaran-Tibbs", dt.date(1970, 5, 5), OTHER_HOME),
    (TOBIAS, "WY920005A", "Tobias", "Oyelaran-Tibbs", dt.date(1968, 7, 19), OTHER_HOME),
]
NON_DEPENDANT = 990_001
SON = f"HBHM1/N{NON_DEPENDANT}"

# (record id, expected band, method, person)
EXPECTED = [
    ("HBHM1", "link", "nino", GWENDOLINE),
    ("HBHM1/P", "link", "nino", ALOYSIUS),
    # No NINO: his names, date of birth and the claim's address; his parents share the last two.
    (SON, "link", "probabilistic", PEREGRINE),
    ("HBHM2", "link", "nino", MARGUERITE),
    # His names and date of birth with his wife's NINO: him, never her.
    ("HBHM2/P", "link", "probabilistic", TOBIAS),
]


@dataclasses.dataclass
class Built:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    links: dict[tuple[str, str], asyncpg.Record]
    truth: dict[str, int]
    roles: dict[str, str]


async def _write_households(admin: dict[str, asyncpg.Connection]) -> None:
    role = {GWENDOLINE: "claimant", ALOYSIUS: "partner", PEREGRINE: "non_dependant", MARGUERITE: "claimant"}
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
        "INSERT INTO hb.partner (claim_ref, nino, given_name, family_name, date_of_birth) VALUES ($1, $2, $3, $4, $5)"
    )
    await hb.execute(partner, "HBHM1", "wy920002a", "Aloysius", "Fairweather-Ashdown", dt.date(1956, 9, 3))
    await hb.execute(partner, "HBHM2", "WY920004A", "Tobias", "Oyelaran-Tibbs", dt.date(1968, 7, 19))
    await hb.execute(
        "INSERT INTO hb.non_dependant (non_dependant_id, claim_ref, given_name, family_name, date_of_birth, "
        "gross_weekly_income) VALUES ($1, 'HBHM1', 'Peregrine', 'Fairweather-Ashdown', $2, 310)",
        NON_DEPENDANT,
        dt.date(1989, 12, 24),
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
    records = {r.record_id: r for r in await hb.by_record_ids(["HBHM1", "HBHM1/P", SON, "HBHM9/P"])}
    assert set(records) == {"HBHM1", "HBHM1/P", SON}  # a claim that is not held has no partner
    assert [records[r].given_name for r in ("HBHM1", "HBHM1/P", SON)] == ["Gwendoline", "Aloysius", "Peregrine"]
    assert {(r.address_line1, r.town, r.postcode) for r in records.values()} == {HOME}
    assert records["HBHM1/P"].nino == "wy920002a"  # as held
    assert records[SON].nino is None
    # Scanned in record-id order (the batch build's read, resumable by the last id), members included.
    scanned = [r.record_id for r in await hb.scan(hb.people.first_cursor, 100_000)]
    assert len(scanned) == len(set(scanned)) == len(built.roles)
    assert {"HBHM1", "HBHM1/P", SON, "HBHM2", "HBHM2/P"} <= set(scanned)
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
    claimant, partner, son, by_nino, nobody = await hb.fetch(
        [("id", "HBHM1"), ("id", "HBHM1/P"), ("id", SON), ("nino", "WY920002A"), ("id", "HBHM9/P")], ask
    )
    assert claimant is not None
    assert partner is not None
    assert by_nino is not None
    assert [c.claim_ref for c in claimant.claims] == [c.claim_ref for c in partner.claims] == ["HBHM1"]
    assert [c.claim_ref for c in by_nino.claims] == ["HBHM1"]  # the partner's NINO, as held ('wy920002a')
    assert partner.claims[0].non_dependant_count == 1
    # A non-dependant's record releases nothing of the claim: it is not theirs.
    assert son is None
    assert nobody is None


async def test_a_non_dependant_is_tied_to_the_council_and_a_change_about_them_reaches_the_claim(
    hb: HousingBenefitSource,
) -> None:
    ((councils, districts),) = await hb.ties([("id", SON)])
    assert councils == {COUNCIL}
    assert districts == {"NT1"}
    assert await hb.open_claims([("id", SON)]) == [("HBHM1", COUNCIL)]
    assert await hb.open_claims([("nino", "WY920002A")]) == [("HBHM1", COUNCIL)]
