"""The names real systems hold, on real PostgreSQL: middle and "known as" names, the Mohammed prefix,
convention surnames (Kaur, Begum), married surnames, Jnr/Snr, estimated dates of birth and a household
member's NINO. Each is built into stores the way a council and DWP hold it, linked by the batch build,
and checked for its band and for never linking anyone to someone else.

The stores are this module's own: a synthetic population with the generator's name realities
(hub.ops.synth.realities), and people written here with names no one else has, whose band each test names.
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
from hub.ops.linking.federated import linkage_ask
from hub.ops.migrate import drop_stores, migrate
from hub.ops.synth import SynthParams, generate, load
from hub.types import SOURCE_STORES
from linkage import Band, Demographics, FSModel, Thresholds
from linkage.link import decide, person_key_for
from resolvers.sources import DwpSource

PEOPLE = 3000
THRESHOLDS = Thresholds()
HOME = {"address_line1": "4 Wyvern Close", "town": "Northtown", "postcode": "NT1 9WY"}
OLD_HOME = {"address_line1": "19 Furlong Row", "town": "Southbury", "postcode": "SB2 7FR"}

# (person id, NINO, title-less names and date of birth, household): DWP's record of each written person.
XANTHE = 910_001  # goes by her middle name, Oriel
ZARRAR = 910_002  # registered Mohammed Zarrar, called Zarrar
HARLEEN = 910_003  # Harleen Kaur Thindwal: Kaur alone on the council's record
ROKEYA = 910_004  # Rokeya Begum: her husband's family name on the council's record
OTTOLINE = 910_005  # married: Pennycuick now, Ravenscroft on an old council record at an old address
BARNABAS_SNR, BARNABAS_JNR = 910_006, 910_007  # a father and son of one name at one home
CARL, CAROLINE = 910_008, 910_009  # twins: same family name, date of birth and home
TWINS_BORN = dt.date(1991, 6, 14)
ADAEZE = 910_010  # born abroad: 1 January on her NINO record, her real date on the council's
WILHELMINA, IGNATIUS = 910_011, 910_012  # two people DWP holds under one NINO (issued twice, or a slip)
SHARED_NINO = "WY910011A"
XANTHE_AGAIN = 910_013  # DWP's second record of Xanthe
AMBROSE, AMBROSE_BABY = 910_014, 910_015  # a father and his baby son of one name at one home

SPINE: list[dict[str, Any]] = [
    {"id": XANTHE, "nino": "WY910001A", "given": "Xanthe", "middle": "Oriel", "family": "Vantongeren",
     "dob": dt.date(1966, 3, 9)},
    {"id": ZARRAR, "nino": "WY910002A", "given": "Mohammed", "middle": "Zarrar", "family": "Quddusi",
     "dob": dt.date(1979, 10, 2)},
    {"id": HARLEEN, "nino": "WY910003A", "given": "Harleen", "family": "Kaur Thindwal", "dob": dt.date(1958, 12, 20)},
    {"id": ROKEYA, "nino": "WY910004A", "given": "Rokeya", "family": "Begum", "dob": dt.date(1962, 4, 27)},
    {"id": OTTOLINE, "nino": "WY910005A", "given": "Ottoline", "family": "Pennycuick", "previous": "Ravenscroft",
     "dob": dt.date(1984, 8, 17)},
    {"id": BARNABAS_SNR, "nino": "WY910006A", "given": "Barnabas", "family": "Quillfeather", "suffix": "Snr",
     "dob": dt.date(1952, 1, 30)},
    {"id": BARNABAS_JNR, "nino": "WY910007A", "given": "Barnabas", "family": "Quillfeather", "suffix": "Jnr",
     "dob": dt.date(1979, 5, 11)},
    {"id": CARL, "nino": "WY910008A", "given": "Carl", "family": "Ingelbrecht", "dob": TWINS_BORN},
    {"id": CAROLINE, "nino": "WY910009A", "given": "Caroline", "family": "Ingelbrecht", "dob": TWINS_BORN},
    {"id": ADAEZE, "nino": "WY910010A", "given": "Adaeze", "family": "Nwachukwu-Obi", "dob": dt.date(1971, 1, 1)},
    {"id": WILHELMINA, "nino": SHARED_NINO, "given": "Wilhelmina", "family": "Strathearn", "dob": dt.date(1944, 7, 5)},
    {"id": IGNATIUS, "nino": SHARED_NINO, "given": "Ignatius", "family": "Podmore", "dob": dt.date(1969, 2, 13)},
    # Xanthe registered again: her NINO, no middle name. One person, one candidate for her council records.
    {"id": XANTHE_AGAIN, "nino": "WY910001A", "given": "Xanthe", "family": "Vantongeren", "dob": dt.date(1966, 3, 9)},
    {"id": AMBROSE, "nino": "WY910014A", "given": "Ambrose", "family": "Tittensor", "dob": dt.date(1983, 9, 21)},
    {"id": AMBROSE_BABY, "nino": "WY910015A", "given": "Ambrose", "family": "Tittensor",
     "dob": dt.date.today().replace(day=1) - dt.timedelta(days=400)},
]  # fmt: skip
NINO_OF = {p["id"]: p["nino"] for p in SPINE if p["id"] != XANTHE_AGAIN}

# (source, record id, NINO, given, middle, known as, suffix, family, previous, date of birth, home)
COUNCIL: list[tuple[Any, ...]] = [
    # The name she goes by, as the council keyed it; no NINO.
    ("hb", "HBNM1", None, "Oriel", None, None, None, "Vantongeren", None, dt.date(1966, 3, 9), HOME),
    # The prefix dropped; no NINO.
    ("social_care", "SCNM1", None, "Zarrar", None, None, None, "Quddusi", None, dt.date(1979, 10, 2), HOME),
    # Kaur alone; no NINO.
    ("social_care", "SCNM2", None, "Harleen", None, None, None, "Kaur", None, dt.date(1958, 12, 20), HOME),
    # Her husband's family name; no NINO.
    ("hb", "HBNM2", None, "Rokeya", None, None, None, "Uddinbhuiyan", None, dt.date(1962, 4, 27), HOME),
    # Her surname before marriage, at the address before: only the date of birth and given name find her.
    ("hb", "HBNM3", None, "Ottoline", None, None, None, "Ravenscroft", None, dt.date(1984, 8, 17), OLD_HOME),
    # The son, Jnr typed into the family name box; no NINO, no date of birth.
    ("hb", "HBNM4", None, "Barnabas", None, None, None, "Quillfeather Jnr", None, None, HOME),
    # One of the two, nothing to say which: no NINO, no date of birth, no suffix.
    ("social_care", "SCNM3", None, "Barnabas", None, None, None, "Quillfeather", None, None, HOME),
    # Carl's record with his twin sister's NINO (a household member's NINO): never Caroline.
    ("social_care", "SCNM4", NINO_OF[CAROLINE], "Carl", None, None, None, "Ingelbrecht", None, TWINS_BORN, HOME),
    # Caroline's own record, her NINO, a known-as name beside her given name.
    ("hb", "HBNM5", NINO_OF[CAROLINE], "Caroline", None, "Caz", None, "Ingelbrecht", None, TWINS_BORN, HOME),
    # Her real date of birth where DWP holds the estimate; no NINO.
    ("social_care", "SCNM5", None, "Adaeze", None, None, None, "Nwachukwu-Obi", None, dt.date(1971, 8, 23), HOME),
    # The shared NINO on Wilhelmina's claim, her names and date of birth: hers, whoever else DWP holds it for.
    ("hb", "HBNM6", SHARED_NINO, "Wilhelmina", None, None, None, "Strathearn", None, dt.date(1944, 7, 5), HOME),
    # The father, no date of birth: an adult service's record is never his baby son's.
    ("social_care", "SCNM7", None, "Ambrose", None, None, None, "Tittensor", None, None, HOME),
    # Ignatius, whose DWP record carries Wilhelmina's NINO: his record is in review, and so is this one.
    ("social_care", "SCNM6", None, "Ignatius", None, None, None, "Podmore", None, dt.date(1969, 2, 13), HOME),
]

# (source, record id, expected band, method, the person it links to, or the people a reviewer chooses between)
EXPECTED: list[tuple[str, str, str, str, int | tuple[int, ...]]] = [
    ("hb", "HBNM1", "link", "probabilistic", XANTHE),
    ("social_care", "SCNM1", "link", "probabilistic", ZARRAR),
    ("social_care", "SCNM2", "link", "probabilistic", HARLEEN),
    ("hb", "HBNM2", "link", "probabilistic", ROKEYA),
    ("hb", "HBNM3", "link", "probabilistic", OTTOLINE),
    ("hb", "HBNM4", "link", "probabilistic", BARNABAS_JNR),
    ("social_care", "SCNM3", "review", "probabilistic", (BARNABAS_SNR, BARNABAS_JNR)),
    ("social_care", "SCNM4", "link", "probabilistic", CARL),
    ("hb", "HBNM5", "link", "nino", CAROLINE),
    ("social_care", "SCNM5", "link", "probabilistic", ADAEZE),
    ("hb", "HBNM6", "link", "nino", WILHELMINA),
    ("social_care", "SCNM6", "review", "probabilistic", (IGNATIUS,)),
]


@dataclasses.dataclass
class Built:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    model: FSModel
    links: dict[tuple[str, str], asyncpg.Record]
    truth: dict[tuple[str, str], int]
    labels: dict[tuple[str, str], frozenset[str]]


async def _write_people(admin: dict[str, asyncpg.Connection]) -> None:
    home = (HOME["address_line1"], HOME["town"], HOME["postcode"])
    await admin["src_dwp"].executemany(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, previous_family_names, "
        "name_suffix, date_of_birth, address_line1, town, postcode, household_id, household_role) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $1, 'claimant')",
        [
            (p["id"], p["nino"], p["given"], p.get("middle"), p["family"], p.get("previous"), p.get("suffix"),
             p["dob"], *home)
            for p in SPINE
        ],
    )  # fmt: skip
    for source, rid, nino, given, middle, known_as, suffix, family, previous, dob, where in COUNCIL:
        place = (where["address_line1"], where["town"], where["postcode"])
        if source == "hb":
            await admin["src_hb"].execute(
                "INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, middle_names, known_as, name_suffix, "
                "family_name, previous_family_names, date_of_birth, address_line1, town, postcode, tenancy_type, "
                "weekly_rent, weekly_award, bedroom_entitlement, start_date) VALUES ($1, 'E09000901', $2, $3, $4, "
                "$5, $6, $7, $8, $9, $10, $11, $12, 'social', 100, 80, 1, '2024-04-01')",
                rid, nino, given, middle, known_as, suffix, family, previous, dob, *place,
            )  # fmt: skip
        else:
            await admin["src_social_care"].execute(
                "INSERT INTO social_care.client (client_id, council_code, nino, given_name, middle_names, known_as, "
                "name_suffix, family_name, previous_family_names, date_of_birth, address_line1, town, postcode) "
                "VALUES ($1, 'E09000901', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                rid, nino, given, middle, known_as, suffix, family, previous, dob, *place,
            )  # fmt: skip


@pytest.fixture(scope="module")
async def built(settings: Settings) -> AsyncIterator[Built]:
    s = dataclasses.replace(settings, db_prefix=f"n{uuid.uuid4().hex[:10]}_")
    await migrate(s)
    data = generate(SynthParams(people=PEOPLE, seed=41))
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        await load({k: v for k, v in admin.items() if k != "hub"}, data)
        await _write_people(admin)
        model = await train_model(s, sample=PEOPLE)
        await build_links(s, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
        rows = await admin["hub"].fetch("SELECT * FROM hub.link WHERE source <> 'dwp'")
        truth: dict[tuple[str, str], int] = {}
        for store, source, prefix in (("src_hb", "hb", "hb:"), ("src_social_care", "social_care", "sc:")):
            for r in await admin[store].fetch(
                "SELECT substr(record_id, $2) AS rid, true_person_id FROM synth_truth.record_identity "
                "WHERE record_id LIKE $1 || '%'",
                prefix,
                len(prefix) + 1,
            ):
                truth[(source, r["rid"])] = r["true_person_id"]
        labels = {
            ("hb" if k.startswith("hb:") else "social_care", k.split(":", 1)[1]): v
            for k, v in data.perturbations.items()
            if k.startswith(("hb:", "sc:"))
        }
        yield Built(s, admin, model, {(r["source"], r["source_record_id"]): r for r in rows}, truth, labels)
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
        await drop_stores(s)


@pytest.mark.parametrize(("source", "record", "band", "method", "person"), EXPECTED, ids=[e[1] for e in EXPECTED])
async def test_written_records_are_decided_as_expected(
    built: Built, source: str, record: str, band: str, method: str, person: int | tuple[int, ...]
) -> None:
    link = built.links[(source, record)]
    assert (link["band"], link["method"]) == (band, method), (link["probability"], link["evidence"])
    if band == "link":
        assert link["person_key"] == person_key_for(str(person))
        return
    assert link["person_key"] is None
    items = await built.admin["hub"].fetch(
        "SELECT candidate_person FROM hub.review_item WHERE source = $1 AND source_record_id = $2 AND status = 'open'",
        source,
        record,
    )
    assert isinstance(person, tuple)
    assert {i["candidate_person"] for i in items} == {person_key_for(str(p)) for p in person}


async def test_no_record_of_the_population_is_linked_to_someone_else(built: Built) -> None:
    """Every council record of the synthetic population, whatever names its system holds: no wrong link;
    and, per reality, most link (the rest go to a person)."""
    wrong: list[tuple[str, str]] = []
    seen: Counter[str] = Counter()
    linked: Counter[str] = Counter()
    for key, person in built.truth.items():
        link = built.links[key]
        if link["band"] != "link":
            for label in built.labels.get(key, ()):
                seen[label] += 1
            continue
        if link["person_key"] != person_key_for(str(person)):
            wrong.append(key)
        for label in built.labels.get(key, ()):
            seen[label] += 1
            linked[label] += link["person_key"] == person_key_for(str(person))
    assert wrong == []
    for label in ("other_name", "suffix", "earlier_surname", "convention_surname"):
        assert seen[label] >= 5, f"the population must hold records with {label}"
    # A record held under another of the person's names is found and linked as often as any other record
    # is: the comparisons see every name (before them, a middle name used as the first was a "different"
    # given name, and most such records went to review).
    for label in ("other_name", "convention_surname"):
        assert linked[label] / seen[label] >= 0.9, f"{linked[label]} of {seen[label]} records with {label} linked"


def _spine(person: int) -> Demographics:
    p = next(x for x in SPINE if x["id"] == person)
    return Demographics(
        given_name=p["given"],
        middle_names=p.get("middle"),
        family_name=p["family"],
        name_suffix=p.get("suffix"),
        previous_family_names=p.get("previous"),
        dob=p["dob"],
        nino=p["nino"],
        record_id=str(person),
        **HOME,
    )


def test_a_nino_whose_names_agree_is_never_overridden_by_a_namesake(built: Built) -> None:
    """Ottoline's NINO and names, a date of birth that is not hers but another Ottoline Pennycuick's, at that
    other Ottoline's home: a NINO typo or a date of birth typo, only a person can say. Never a link to the
    namesake."""
    namesake = Demographics(
        given_name="Ottoline",
        family_name="Pennycuick",
        dob=dt.date(1990, 2, 25),
        nino="WY919999A",
        record_id="919999",
        **OLD_HOME,
    )
    record = Demographics(
        given_name="Ottoline", family_name="Pennycuick", dob=dt.date(1990, 2, 25), nino=NINO_OF[OTTOLINE], **OLD_HOME
    )
    (decision,) = decide([record], [(0, _spine(OTTOLINE)), (0, namesake)], model=built.model, thresholds=THRESHOLDS)
    assert decision.band is Band.REVIEW
    assert decision.reason == "nino_conflict"
    assert {c.spine_record_id for c in decision.review} == {str(OTTOLINE), "919999"}


def test_a_housemates_nino_with_another_persons_names_goes_to_the_person_the_names_are(built: Built) -> None:
    """Caroline's NINO on a record with Carl's names and their shared date of birth and home: the names are
    Carl's, and the demographics find Carl."""
    record = Demographics(given_name="Carl", family_name="Ingelbrecht", dob=TWINS_BORN, nino=NINO_OF[CAROLINE], **HOME)
    (decision,) = decide([record], [(0, _spine(CAROLINE)), (0, _spine(CARL))], model=built.model, thresholds=THRESHOLDS)
    assert decision.band is Band.LINK
    assert decision.method == "probabilistic"
    assert decision.chosen is not None
    assert decision.chosen.spine_record_id == str(CARL)


async def test_a_nino_dwp_holds_for_two_people_releases_neither_by_itself(built: Built) -> None:
    """DWP's spine takes a second record with one NINO (src_dwp 0007); the NINO alone then names no one's
    DWP record, and each record is still found by its id (the link index's way in)."""
    pool = await create_store_pool(built.settings.service_url("src_dwp"), acquire_timeout=5)
    try:
        dwp = DwpSource(pool, timeout=5)
        ask = linkage_ask(uuid.uuid4())
        assert await dwp.fetch([("nino", SHARED_NINO)], ask) == [None]
        by_id = await dwp.fetch([("id", str(WILHELMINA)), ("id", str(IGNATIUS))], ask)
        assert all(r is not None for r in by_id)
    finally:
        await pool.close()


async def test_dwp_duplicates_are_one_person_and_two_people_under_one_nino_go_to_a_person(built: Built) -> None:
    links = {
        r["source_record_id"]: r
        for r in await built.admin["hub"].fetch(
            "SELECT * FROM hub.link WHERE source = 'dwp' AND source_record_id = ANY($1::text[])",
            [str(XANTHE), str(XANTHE_AGAIN), str(WILHELMINA), str(IGNATIUS)],
        )
    }
    # Registered twice: both records are Xanthe's person, the first record's.
    assert links[str(XANTHE_AGAIN)]["band"] == "link"
    assert links[str(XANTHE_AGAIN)]["person_key"] == links[str(XANTHE)]["person_key"] == person_key_for(str(XANTHE))
    # One NINO, two people: the first record is its person; the later one waits for a person, released to no one.
    assert links[str(WILHELMINA)]["person_key"] == person_key_for(str(WILHELMINA))
    assert (links[str(IGNATIUS)]["band"], links[str(IGNATIUS)]["person_key"]) == ("review", None)
    items = await built.admin["hub"].fetch(
        "SELECT reason, candidate_person FROM hub.review_item WHERE source = 'dwp' AND source_record_id = $1",
        str(IGNATIUS),
    )
    assert [(i["reason"], i["candidate_person"]) for i in items] == [("nino_conflict", person_key_for(str(WILHELMINA)))]


async def test_nothing_links_to_a_dwp_record_that_is_itself_in_review(built: Built) -> None:
    """Ignatius's details agree with his DWP record in every way, but that record carries a NINO DWP also
    holds for Wilhelmina: until a person decides whose it is, his council record names no one either."""
    items = await built.admin["hub"].fetch(
        "SELECT reason, candidate_person FROM hub.review_item WHERE source = 'social_care' AND source_record_id = 'SCNM6'"
    )
    assert [(i["reason"], i["candidate_person"]) for i in items] == [
        ("spine_record_in_review", person_key_for(str(IGNATIUS)))
    ]
    (dwp_item,) = await built.admin["hub"].fetch(
        "SELECT reason FROM hub.review_item WHERE source = 'dwp' AND source_record_id = $1", str(IGNATIUS)
    )
    assert dwp_item["reason"] == "nino_conflict"


async def test_an_adult_services_record_is_never_a_childs(built: Built) -> None:
    """A father and his baby son of one name at one home, the care record without a date of birth: the son
    is no candidate for adult social care, so the record is the father's or a reviewer's, never the son's."""
    link = built.links[("social_care", "SCNM7")]
    assert link["person_key"] != person_key_for(str(AMBROSE_BABY))
    items = await built.admin["hub"].fetch(
        "SELECT candidate_person FROM hub.review_item WHERE source = 'social_care' AND source_record_id = 'SCNM7'"
    )
    assert person_key_for(str(AMBROSE_BABY)) not in {i["candidate_person"] for i in items}
    if link["band"] == "link":
        assert link["person_key"] == person_key_for(str(AMBROSE))
    else:
        assert {i["candidate_person"] for i in items} == {person_key_for(str(AMBROSE))}


async def test_a_record_held_back_for_a_dwp_review_is_decided_once_that_review_is(built: Built) -> None:
    """A reviewer rejects Ignatius's DWP record as Wilhelmina's (it is his own): the next build, incremental,
    decides his care record again, and it links to him. (Last in the module: it changes the index.)"""
    hub = built.admin["hub"]
    (review_id,) = [
        r["review_id"]
        for r in await hub.fetch(
            "SELECT review_id FROM hub.review_item WHERE source = 'dwp' AND source_record_id = $1 AND status = 'open'",
            str(IGNATIUS),
        )
    ]
    # As hub.records.links.ReviewQueue.decide records a rejection.
    await hub.execute(
        "UPDATE hub.review_item SET status = 'rejected', decided_at = now() WHERE review_id = $1", review_id
    )
    await hub.execute(
        "UPDATE hub.link SET person_key = NULL, band = 'non_link', method = 'clerical' "
        "WHERE source = 'dwp' AND source_record_id = $1",
        str(IGNATIUS),
    )
    again = await build_links(built.settings, model=built.model, thresholds=THRESHOLDS, chunk=500, progress=False)
    assert again.by_source["social_care"].get("probabilistic:link", 0) >= 1
    link = await hub.fetchrow("SELECT * FROM hub.link WHERE source = 'social_care' AND source_record_id = 'SCNM6'")
    assert (link["band"], link["person_key"]) == ("link", person_key_for(str(IGNATIUS)))
    item = await hub.fetchrow(
        "SELECT status FROM hub.review_item WHERE source = 'social_care' AND source_record_id = 'SCNM6'"
    )
    assert item["status"] == "superseded"
    # The person's decision on the DWP record stands.
    dwp = await hub.fetchrow(
        "SELECT band, method FROM hub.link WHERE source = 'dwp' AND source_record_id = $1", str(IGNATIUS)
    )
    assert (dwp["band"], dwp["method"]) == ("non_link", "clerical")
