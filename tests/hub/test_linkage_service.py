"""Linkage on real PostgreSQL: the batch build against synthetic ground truth, and the fallback through
the GraphQL API. Uses its own stores (synthetic people, with twins, households, missing and wrong NINOs)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.audit.events import AuditLog
from hub.config import Settings
from hub.errors import NOT_FOUND_MESSAGE
from hub.ops.demo import seed_sources
from hub.ops.issuer import IssuerKey
from hub.ops.linking import build_links, save_model, train_model
from hub.ops.migrate import drop_stores
from hub.types import SOURCE_STORES
from linkage import Thresholds, check_nino
from linkage.link import person_key_for
from resolvers.types import SourceSystem
from tests.conftest import codes, gql, make_token, running_client
from tests.receipts import public_part, without_receipt
from tests.telemetry import Telemetry

PEOPLE = 2500
THRESHOLDS = Thresholds()


@dataclasses.dataclass
class Linked:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    counts: Any


@pytest.fixture(scope="module")
async def linked(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, telemetry: Telemetry
) -> AsyncIterator[Linked]:
    s = dataclasses.replace(
        settings,
        db_prefix=f"l{uuid.uuid4().hex[:10]}_",
        link_model_path=tmp_path_factory.mktemp("model") / "link-model.json",
    )
    await seed_sources(s, people=PEOPLE, seed=7)
    model = await train_model(s, sample=PEOPLE)
    assert s.link_model_path is not None
    save_model(model, s.link_model_path)
    # Two worker processes: the batch build as the CLI runs it.
    counts = await build_links(s, model=model, thresholds=THRESHOLDS, chunk=500, progress=False, workers=2)
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    await telemetry.remember_people(admin)  # the PII scan at the end looks for these people too
    try:
        yield Linked(s, admin, counts)
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
        await drop_stores(s)


@pytest.fixture(scope="module")
def token(issuer: IssuerKey, linked: Linked) -> Any:
    # These tests run against the module's own stores: organisations are registered in its hub, as national
    # bodies (the synthetic people live in three councils' areas; tests/hub/test_relationship.py covers ties).
    return make_token(issuer, linked.settings, council=None)


async def _truth(linked: Linked, store: str, table: str, id_col: str, prefix: str) -> list[asyncpg.Record]:
    return list(
        await linked.admin[store].fetch(
            f"SELECT t.{id_col} AS rid, t.nino, r.true_person_id, r.true_nino FROM {table} t "
            f"JOIN synth_truth.record_identity r ON r.record_id = $1 || t.{id_col}",
            prefix,
        )
    )


@pytest.mark.parametrize(
    ("source", "store", "table", "id_col", "prefix"),
    [
        ("hb", "src_hb", "hb.claim_person", "record_ref", "hb:"),
        ("social_care", "src_social_care", "social_care.client", "client_id", "sc:"),
    ],
)
async def test_batch_links_are_right_or_go_to_review(
    linked: Linked, source: str, store: str, table: str, id_col: str, prefix: str
) -> None:
    truth = await _truth(linked, store, table, id_col, prefix)
    links = {
        r["source_record_id"]: r
        for r in await linked.admin["hub"].fetch("SELECT * FROM hub.link WHERE source = $1", source)
    }
    assert len(links) == len(truth)
    wrong = right = without_nino = without_nino_right = 0
    for row in truth:
        link = links[row["rid"]]
        has_nino = row["nino"] is not None and check_nino(row["nino"]).nino == row["true_nino"]
        without_nino += not has_nino
        if link["band"] == "link":
            correct = link["person_key"] == person_key_for(str(row["true_person_id"]))
            right += correct
            wrong += not correct
            without_nino_right += correct and not has_nino
        assert link["evidence"] is None or "given_name" in link["evidence"]
    # A false link releases someone else's data: none is tolerated here.
    assert wrong == 0
    assert right / len(truth) >= 0.93
    assert without_nino > 20, "the synthetic data must exercise the fallback"
    assert without_nino_right / without_nino >= 0.85


async def test_rebuild_is_idempotent_and_incremental(linked: Linked) -> None:
    from hub.ops.linking import load_model

    assert linked.settings.link_model_path is not None
    model = load_model(linked.settings.link_model_path)
    again = await build_links(linked.settings, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    assert all(set(c) == {"unchanged"} for c in again.by_source.values()), again.by_source
    # A claim with members: its postcode is theirs too (they live at the claim's address), so the claimant's
    # record and each member's are decided again, and no other.
    claim = await linked.admin["src_hb"].fetchval(
        "SELECT claim_ref FROM hb.claim_person WHERE role <> 'claimant' ORDER BY claim_ref LIMIT 1"
    )
    members = await linked.admin["src_hb"].fetchval("SELECT count(*) FROM hb.claim_person WHERE claim_ref = $1", claim)
    assert members >= 2
    await linked.admin["src_hb"].execute("UPDATE hb.claim SET postcode = 'ZZ9 9ZZ' WHERE claim_ref = $1", claim)
    refreshed = await build_links(linked.settings, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    changed = {k: v for k, v in refreshed.by_source["hb"].items() if k != "unchanged"}
    assert sum(changed.values()) == members
    # DWP's later record of a NINO is decided from itself and the earlier record: the earlier one changed
    # (it moved), both are decided again, and nothing else of DWP's.
    original = await linked.admin["src_dwp"].fetchval(
        "SELECT min(person_id) FROM dwp.person WHERE nino IN "
        "(SELECT nino FROM dwp.person WHERE nino IS NOT NULL GROUP BY nino HAVING count(*) > 1)"
    )
    assert original is not None, "the synthetic spine holds duplicates"
    later = await linked.admin["src_dwp"].fetchval(
        "SELECT count(*) FROM dwp.person WHERE person_id > $1 AND nino = (SELECT nino FROM dwp.person WHERE person_id = $1)",
        original,
    )
    await linked.admin["src_dwp"].execute("UPDATE dwp.person SET postcode = 'ZZ9 9ZY' WHERE person_id = $1", original)
    moved = await build_links(linked.settings, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    assert sum(v for k, v in moved.by_source["dwp"].items() if k != "unchanged") == 1 + later
    runs = await linked.admin["hub"].fetch("SELECT finished_at, cursors FROM hub.link_run ORDER BY run_id")
    assert all(r["finished_at"] is not None for r in runs)


async def test_an_interrupted_build_resumes_where_it_stopped(linked: Linked) -> None:
    # As if a build had written the spine and part of HB when it was killed: its run is unfinished, its
    # cursors mark what was done, and nothing after them was written.
    from hub.ops.linking import load_model

    assert linked.settings.link_model_path is not None
    model = load_model(linked.settings.link_model_path)
    hub = linked.admin["hub"]
    before = await hub.fetchval("SELECT count(*) FROM hub.link")
    last_person = await linked.admin["src_dwp"].fetchval("SELECT max(person_id) FROM dwp.person")
    claims = [r["claim_ref"] for r in await linked.admin["src_hb"].fetch("SELECT claim_ref FROM hb.claim ORDER BY 1")]
    stopped_at = claims[len(claims) // 2]
    lost = await hub.fetch(
        "DELETE FROM hub.link WHERE (source = 'hb' AND source_record_id > $1) OR source = 'social_care' "
        "RETURNING source, source_record_id",
        stopped_at,
    )
    await hub.execute(
        "INSERT INTO hub.link_run (model_version, cursors) VALUES ($1, $2::jsonb)",
        model.version,
        # The spine's pass ends with its duplicates (each decided once the whole spine is read), written
        # with a cursor of their own.
        f'{{"dwp": {last_person}, "dwp:duplicates": "{last_person}", "hb": "{stopped_at}"}}',
    )
    resumed = await build_links(linked.settings, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    # The spine is read again (the others are decided against it) but not written again; HB goes on
    # after its cursor; social care runs whole.
    assert "dwp" not in resumed.by_source, resumed.by_source
    written = {source: sum(v for k, v in c.items() if k != "unchanged") for source, c in resumed.by_source.items()}
    assert written == {
        "hb": sum(r["source"] == "hb" for r in lost),
        "social_care": sum(r["source"] == "social_care" for r in lost),
    }
    assert await hub.fetchval("SELECT count(*) FROM hub.link") == before
    assert await hub.fetchval("SELECT count(*) FROM hub.link_run WHERE finished_at IS NULL") == 0


async def test_a_build_killed_before_the_spines_duplicates_decides_them_on_resume(linked: Linked) -> None:
    # As if killed after the spine's last chunk was written and before its duplicates were decided: the
    # spine's cursor is its last record, and no duplicate has a row (the council sources, decided already,
    # are found unchanged).
    from hub.ops.linking import load_model

    assert linked.settings.link_model_path is not None
    model = load_model(linked.settings.link_model_path)
    hub, dwp = linked.admin["hub"], linked.admin["src_dwp"]
    last_person = await dwp.fetchval("SELECT max(person_id) FROM dwp.person")
    later = [
        str(r["person_id"])
        for r in await dwp.fetch(
            "SELECT person_id FROM (SELECT person_id, row_number() OVER (PARTITION BY nino ORDER BY person_id) AS k "
            "FROM dwp.person WHERE nino IS NOT NULL) d WHERE k > 1"
        )
    ]
    assert later, "the synthetic spine holds duplicates"
    lost = await hub.fetch(
        "DELETE FROM hub.link WHERE source = 'dwp' AND source_record_id = ANY($1::text[]) "
        "RETURNING source_record_id, person_key, band",
        later,
    )
    assert len(lost) == len(later)
    await hub.execute(
        "INSERT INTO hub.link_run (model_version, cursors) VALUES ($1, $2::jsonb)",
        model.version,
        f'{{"dwp": {last_person}}}',
    )
    resumed = await build_links(linked.settings, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    assert sum(resumed.by_source["dwp"].values()) == len(later), resumed.by_source
    back = {
        r["source_record_id"]: (r["person_key"], r["band"])
        for r in await hub.fetch(
            "SELECT source_record_id, person_key, band FROM hub.link WHERE source = 'dwp' "
            "AND source_record_id = ANY($1::text[])",
            later,
        )
    }
    assert back == {r["source_record_id"]: (r["person_key"], r["band"]) for r in lost}
    assert await hub.fetchval("SELECT count(*) FROM hub.link_run WHERE finished_at IS NULL") == 0


async def test_hub_database_holds_no_seeded_nino(linked: Linked) -> None:
    ninos = {
        r["true_nino"] for r in await linked.admin["src_dwp"].fetch("SELECT true_nino FROM synth_truth.record_identity")
    }
    assert len(ninos) >= PEOPLE
    dump = []
    for t in await linked.admin["hub"].fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'hub'"
    ):
        dump += [
            r["row"]
            for r in await linked.admin["hub"].fetch(
                f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t'
            )
        ]
    text = "\n".join(dump).upper()
    assert len(dump) > PEOPLE
    assert not [n for n in ninos if n in text]


CARE = "query($n: String, $d: PersonDemographics) { person(nino: $n, demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId housingBenefit { claims { weeklyRent } } socialCare { domiciliaryHoursPerWeek } } }"


async def test_link_index_brings_records_whose_nino_was_missing(linked: Linked, token: Any) -> None:
    row = await linked.admin["src_hb"].fetchrow(
        "SELECT c.claim_ref, c.weekly_rent, r.true_nino FROM hb.claim c JOIN synth_truth.record_identity r "
        "ON r.record_id = 'hb:' || c.claim_ref WHERE c.nino IS NULL ORDER BY c.claim_ref"
    )
    link = await linked.admin["hub"].fetchrow(
        "SELECT band FROM hub.link WHERE source = 'hb' AND source_record_id = $1", row["claim_ref"]
    )
    assert link["band"] == "link", "pick a fixture whose claim linked"
    async with running_client(linked.settings) as client:
        body = (
            await gql(client, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"), CARE, {"n": row["true_nino"]})
        ).json()
    assert "errors" not in body, body
    rents = [c["weeklyRent"] for c in body["data"]["person"]["housingBenefit"]["claims"]]
    assert str(row["weekly_rent"]) in rents


async def _record_user_as(linked: Linked, org: str, nino: str, person_key: uuid.UUID | None) -> None:
    """The officer of ``org`` is, as a person, the holder of ``nino`` (and ``person_key`` in the hub)."""
    from hub.access.keys import load_key_ring
    from hub.records.orgs import record_staff
    from linkage import NormalisedNino, subject_hash, user_hash

    assert linked.settings.keys_path is not None
    ring = load_key_ring(linked.settings.keys_path)
    await record_staff(
        linked.admin["hub"], [(user_hash(ring, org, "officer-1"), subject_hash(ring, NormalisedNino(nino)), person_key)]
    )


async def test_own_record_is_refused_when_looked_up_by_details(linked: Linked, token: Any) -> None:
    # The user is, as a person, someone the demographic fallback finds: refused, however it is looked for.
    person = await linked.admin["src_dwp"].fetchrow(
        "SELECT p.nino, p.given_name, p.family_name, p.date_of_birth, p.postcode FROM dwp.person p "
        "ORDER BY p.person_id LIMIT 1 OFFSET 40"
    )
    await _record_user_as(linked, "self-seeker", person["nino"], None)
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY", org="self-seeker")
    q = """query($d: PersonDemographics!) { person(purpose: CARE_CHARGING_DOMICILIARY, demographics: $d) {
           subjectId } }"""
    details = {
        "givenName": person["given_name"],
        "familyName": person["family_name"],
        "dateOfBirth": person["date_of_birth"].isoformat(),
        "postcode": person["postcode"],
    }
    async with running_client(linked.settings) as client:
        body = (await gql(client, t, q, {"d": details})).json()
    assert codes(body) == ["OWN_RECORD"], body


async def test_own_record_is_refused_through_another_nino_linked_to_the_user(linked: Linked, token: Any) -> None:
    # The user was recorded with their hub person key: a council record carrying another NINO that the link
    # index ties to them (or their own) reaches that person, and is refused.
    from hub.access.keys import load_key_ring
    from hub.records.links import person_key_of
    from linkage import NormalisedNino

    person = await linked.admin["src_dwp"].fetchrow("SELECT nino FROM dwp.person ORDER BY person_id LIMIT 1 OFFSET 60")
    assert linked.settings.keys_path is not None
    ring = load_key_ring(linked.settings.keys_path)
    key = await person_key_of(linked.admin["hub"], [k.value for k in ring.hash_all(NormalisedNino(person["nino"]))])
    assert key is not None, "the link index knows the person"
    # Recorded under a NINO that is not the one looked up: only the person key can match.
    await _record_user_as(linked, "self-seeker-2", "JZ999999A", key)
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY", org="self-seeker-2")
    q = "query($n: String!) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }"
    async with running_client(linked.settings) as client:
        body = (await gql(client, t, q, {"n": person["nino"]})).json()
    assert codes(body) == ["OWN_RECORD"], body


async def test_demographic_fallback_finds_the_same_person(linked: Linked, token: Any) -> None:
    person = await linked.admin["src_dwp"].fetchrow(
        "SELECT p.nino, p.given_name, p.family_name, p.date_of_birth, p.postcode FROM dwp.person p "
        "WHERE EXISTS (SELECT 1 FROM dwp.person q WHERE q.household_id = p.household_id AND q.person_id <> p.person_id) "
        "ORDER BY p.person_id LIMIT 1"
    )
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    started = dt.datetime.now(dt.UTC)
    demographics = {
        "givenName": person["given_name"],
        "familyName": person["family_name"],
        "dateOfBirth": person["date_of_birth"].isoformat(),
        "postcode": person["postcode"],
    }
    async with running_client(linked.settings) as client:
        by_nino = (
            await gql(
                client,
                t,
                "query($n: String) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
                {"n": person["nino"]},
            )
        ).json()
        by_details = (
            await gql(
                client,
                t,
                "query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
                {"d": demographics},
            )
        ).json()
        # The same household member with another given name and a DOB a decade off: not this person.
        stranger = dict(
            demographics,
            givenName="Zebedee",
            dateOfBirth=person["date_of_birth"].replace(year=person["date_of_birth"].year - 10).isoformat(),
        )
        other = (
            await gql(
                client,
                t,
                "query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
                {"d": stranger},
            )
        ).json()
        thin = (
            await gql(
                client,
                t,
                "query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
                {"d": {"familyName": person["family_name"]}},
            )
        ).json()
    assert "errors" not in by_details, by_details
    if "errors" in by_nino:
        assert codes(by_nino) == ["SUBJECT_NOT_FOUND"]  # a DWP-only person the purpose's sources lack
    else:
        assert by_details["data"]["person"]["subjectId"] == by_nino["data"]["person"]["subjectId"]
    # Not certain, or no one: one answer to the caller; the audit record says which.
    assert codes(other) == ["SUBJECT_NOT_FOUND"]
    assert other["errors"][0]["message"] == NOT_FOUND_MESSAGE
    assert codes(thin) == ["BAD_USER_INPUT"]
    # The transparency report counts the lookups by demographics by their band.
    pool = await asyncpg.create_pool(linked.settings.admin_url("hub"), min_size=1, max_size=1)
    try:
        report = await AuditLog(pool, timeout=10).transparency(started, dt.datetime.now(dt.UTC))
    finally:
        await pool.close()
    reasons = await linked.admin["hub"].fetch(
        "SELECT reason_codes FROM hub.audit_event WHERE occurred_at >= $1 AND purpose = 'CARE_CHARGING_DOMICILIARY' "
        "AND link_method = 'probabilistic' AND decision <> 'released'",
        started,
    )
    assert [r["reason_codes"] for r in reasons] in (
        [["MATCH_NEEDS_REVIEW"]],
        [["SUBJECT_NOT_FOUND"]],
    ), reasons  # the one lookup of the stranger (the thin one was refused before linkage)
    band = "review" if reasons[0]["reason_codes"] == ["MATCH_NEEDS_REVIEW"] else "non_link"
    # Published as the caller was told: "not certain" and "no one" together.
    assert report["linkage_bands"] == {"link": 1, "not_linked": 1}
    assert band in ("review", "non_link")


async def test_twins_never_auto_link_to_each_other(linked: Linked, token: Any) -> None:
    twins = await linked.admin["src_dwp"].fetch(
        "SELECT a.given_name, a.family_name, a.date_of_birth, a.postcode, b.given_name AS twin_given "
        "FROM dwp.person a JOIN dwp.person b ON a.household_id = b.household_id AND a.person_id < b.person_id "
        "AND a.date_of_birth = b.date_of_birth AND a.family_name = b.family_name AND a.given_name <> b.given_name LIMIT 5"
    )
    assert twins, "the synthetic data has twins"
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    async with running_client(linked.settings) as client:
        for twin in twins:
            # Twin A's details with a given name that is neither twin's: must not be given either twin.
            d = {
                "givenName": "Quentin",
                "familyName": twin["family_name"],
                "dateOfBirth": twin["date_of_birth"].isoformat(),
                "postcode": twin["postcode"],
            }
            body = (
                await gql(
                    client,
                    t,
                    "query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
                    {"d": d},
                )
            ).json()
            assert codes(body) == ["SUBJECT_NOT_FOUND"], body


async def test_fallback_is_audited_with_method_and_probability(linked: Linked, token: Any) -> None:
    person = await linked.admin["src_dwp"].fetchrow(
        "SELECT given_name, family_name, date_of_birth, postcode FROM dwp.person ORDER BY person_id DESC LIMIT 1"
    )
    d = {
        "givenName": person["given_name"],
        "familyName": person["family_name"],
        "dateOfBirth": person["date_of_birth"].isoformat(),
        "postcode": person["postcode"],
    }
    async with running_client(linked.settings) as client:
        await gql(
            client,
            token("council_care_finance", "CARE_CHARGING_DOMICILIARY", org="fallback-audit"),
            "query($d: PersonDemographics) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }",
            {"d": d},
        )
    row = await linked.admin["hub"].fetchrow(
        "SELECT link_method, link_probability, model_version, sources_read FROM hub.audit_event WHERE caller_org = 'fallback-audit'"
    )
    assert row["link_method"] == "probabilistic"
    assert row["link_probability"] is not None
    assert row["model_version"].startswith("fs-")
    assert "dwp" in row["sources_read"]


def test_model_file_written(linked: Linked) -> None:
    assert isinstance(linked.settings.link_model_path, Path)
    assert linked.settings.link_model_path.read_text().startswith("{")


QUEUE = "query { reviewQueue(purpose: IDENTITY_REVIEW, first: 50) { items { reviewId source sourceRecordId reason probability evidence { comparison level weight } candidateSubject status why } } }"
DECIDE = "mutation($id: ID!, $accept: Boolean!) { decideReview(purpose: IDENTITY_REVIEW, reviewId: $id, accept: $accept) { reviewId status } }"


async def test_clerical_review_flow(linked: Linked, token: Any) -> None:
    reviewer = token("linkage_reviewer", "IDENTITY_REVIEW", org="identity-team")
    async with running_client(linked.settings) as client:
        queue = (await gql(client, reviewer, QUEUE)).json()
        assert "errors" not in queue, queue
        items = queue["data"]["reviewQueue"]["items"]
        assert items, "the synthetic data leaves some records for review"
        for item in items:
            assert item["status"] == "OPEN"
            assert {e["comparison"] for e in item["evidence"]} >= {"given_name", "dob"}
            assert item["candidateSubject"].startswith("ps_")
            assert item["why"].startswith(("The details agree", "The record's National Insurance number"))
            assert item["sourceRecordId"] not in item["why"]
        accept, reject = (
            items[0],
            next(
                i
                for i in items
                if (i["source"], i["sourceRecordId"]) != (items[0]["source"], items[0]["sourceRecordId"])
            ),
        )
        accepted = (await gql(client, reviewer, DECIDE, {"id": accept["reviewId"], "accept": True})).json()
        rejected = (await gql(client, reviewer, DECIDE, {"id": reject["reviewId"], "accept": False})).json()
        again = (await gql(client, reviewer, DECIDE, {"id": accept["reviewId"], "accept": False})).json()
        outsider = (
            await gql(
                client,
                token("council_hb", "HB_OVERNIGHT_CARER_ROOM"),
                QUEUE.replace("IDENTITY_REVIEW", "HB_OVERNIGHT_CARER_ROOM"),
            )
        ).json()
    assert accepted["data"]["decideReview"]["status"] == "ACCEPTED"
    assert rejected["data"]["decideReview"]["status"] == "REJECTED"
    assert again["data"]["decideReview"] is None  # a decision is made once
    assert codes(outsider) == ["PURPOSE_FORBIDS_FIELD"]
    link = await linked.admin["hub"].fetchrow(
        "SELECT band, method, person_key FROM hub.link WHERE source = $1 AND source_record_id = $2",
        SourceSystem[accept["source"]].value,  # the schema's name for the source, stored as its value
        accept["sourceRecordId"],
    )
    assert (link["band"], link["method"]) == ("link", "clerical")
    # A batch rebuild never overrides a person's decision.
    from hub.ops.linking import load_model

    assert linked.settings.link_model_path is not None
    await build_links(
        linked.settings,
        model=load_model(linked.settings.link_model_path),
        thresholds=THRESHOLDS,
        chunk=500,
        progress=False,
        resume=False,
    )
    after = await linked.admin["hub"].fetchrow(
        "SELECT band, method, person_key FROM hub.link WHERE source = $1 AND source_record_id = $2",
        SourceSystem[accept["source"]].value,
        accept["sourceRecordId"],
    )
    assert dict(after) == dict(link)
    audited = await linked.admin["hub"].fetch(
        "SELECT operation_type, decision FROM hub.audit_event WHERE caller_org = 'identity-team'"
    )
    assert [r["operation_type"] for r in audited].count("mutation") == 3


# Keep this test last in the module: it re-keys the shared link index to a key only it holds.
async def test_key_rotation_keeps_lookups_working(linked: Linked, token: Any, tmp_path: Path) -> None:
    import json

    from hub.access.keys import load_key_ring, rotate_key_ring, write_key_ring
    from hub.ops.linking import rekey

    assert linked.settings.keys_path is not None
    rotated_path = tmp_path / "rotated-ring.json"
    write_key_ring(rotated_path, rotate_key_ring(json.loads(linked.settings.keys_path.read_text()), "k-next"))
    rotated = dataclasses.replace(linked.settings, keys_path=rotated_path)
    nino = await linked.admin["src_dwp"].fetchval(
        "SELECT p.nino FROM dwp.person p JOIN synth_truth.record_identity r ON r.record_id = 'dwp:' || p.person_id ORDER BY p.person_id LIMIT 1"
    )
    t = token("council_blue_badge", "BLUE_BADGE")
    q = "query($n: String) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }"

    async def subject(settings: Settings) -> Any:
        async with running_client(settings) as client:
            return (await gql(client, t, q, {"n": nino})).json()

    before = await subject(linked.settings)
    during = await subject(rotated)  # the index still holds old-key hashes: found through the old key
    counts = await rekey(rotated, chunk=700, progress=False)
    assert counts["dwp"] >= PEOPLE
    stale = await linked.admin["hub"].fetchval(
        "SELECT count(*) FROM hub.link WHERE nino_key_id IS NOT NULL AND nino_key_id <> 'k-next'"
    )
    assert stale == 0
    after = await subject(rotated)
    assert without_receipt(before) == without_receipt(during) == without_receipt(after), (before, during, after)
    assert "errors" not in after
    new_ring = load_key_ring(rotated_path)
    hashed = await linked.admin["hub"].fetchval(
        "SELECT count(*) FROM hub.link WHERE source = 'dwp' AND nino_hash = $1",
        new_ring.hash_nino(check_nino(nino).nino).value,
    )  # type: ignore[arg-type]
    assert hashed == 1


BADGE_BY_NINO = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }"
BADGE_BY_DETAILS = "query($d: PersonDemographics!) { person(demographics: $d, purpose: BLUE_BADGE) { subjectId } }"


async def test_who_exists_outside_the_area_cannot_be_learned_and_fishing_is_flagged(
    linked: Linked, issuer: IssuerKey, token: Any
) -> None:
    """The existence and date-of-birth oracle: a council probing people outside its area, by NINO or by
    details with one date of birth after another, gets one answer whether or not the person exists, and
    the probing shows up in auditAnomalies."""
    council = make_token(issuer, linked.settings, council="E09000901")
    t = council("council_blue_badge", "BLUE_BADGE", org="oracle-badges")
    people = await linked.admin["src_dwp"].fetch(
        "SELECT nino, given_name, family_name, date_of_birth, postcode FROM dwp.person "
        "WHERE nino IS NOT NULL ORDER BY person_id LIMIT 60"
    )
    since = dt.datetime.now(dt.UTC)
    async with running_client(linked.settings) as client:
        outsider = None
        for p in people:
            await gql(client, t, BADGE_BY_NINO, {"n": p["nino"]})
            reason = await linked.admin["hub"].fetchval(
                "SELECT reason_codes FROM hub.audit_event WHERE caller_org = 'oracle-badges' ORDER BY seq DESC LIMIT 1"
            )
            if reason == ["NO_LEGITIMATE_RELATIONSHIP"]:
                outsider = p
                break
        assert outsider is not None, "the synthetic people live in three councils' areas"

        async def answer(query: str, variables: dict[str, Any]) -> Any:
            # All but what is per request: the receipt's decision is compared too (it once said "refused"
            # for someone outside the area and "error" for no one).
            return public_part((await gql(client, t, query, variables)).json())

        exists = await answer(BADGE_BY_NINO, {"n": outsider["nino"]})
        assert exists == await answer(BADGE_BY_NINO, {"n": "JK999998C"})  # valid, held by no source
        assert codes(exists) == ["SUBJECT_NOT_FOUND"]
        details = {
            "givenName": outsider["given_name"],
            "familyName": outsider["family_name"],
            "dateOfBirth": outsider["date_of_birth"].isoformat(),
            "postcode": outsider["postcode"],
        }
        right = await answer(BADGE_BY_DETAILS, {"d": details})
        # The date of birth swept day by day, as the review found: every answer is the same one.
        for days in range(-12, 13):
            dob = outsider["date_of_birth"] + dt.timedelta(days=days)
            assert await answer(BADGE_BY_DETAILS, {"d": details | {"dateOfBirth": dob.isoformat()}}) == right, days
        assert right == await answer(
            BADGE_BY_DETAILS, {"d": {"givenName": "Zebedee", "familyName": "Quixwell", "dateOfBirth": "1961-02-03"}}
        )
        assert right["errors"][0]["message"] == exists["errors"][0]["message"]
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        q = """query($s: DateTime!, $u: DateTime!) { auditAnomalies(purpose: AUDIT, since: $s, until: $u) {
          kind organisation count } }"""
        body = (
            await gql(client, token("auditor", "AUDIT"), q, {"s": since.isoformat(), "u": until.isoformat()})
        ).json()
    assert "errors" not in body, body
    fishing = [a for a in body["data"]["auditAnomalies"] if a["kind"] == "FISHING"]
    assert [a["organisation"] for a in fishing] == ["oracle-badges"]
    assert fishing[0]["count"] >= 27


SPECIAL_BY_DETAILS = (
    "query($d: PersonDemographics!) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }"
)


async def test_identification_must_be_real_and_rise_with_the_tier(linked: Linked, token: Any) -> None:
    """Blank or punctuation names do not count, a date of birth must be a real one in the past, and
    special-category data is not released on family name and date of birth alone."""
    person = await linked.admin["src_dwp"].fetchrow(
        "SELECT given_name, family_name, date_of_birth, postcode FROM dwp.person ORDER BY person_id LIMIT 1"
    )
    full = {
        "givenName": person["given_name"],
        "familyName": person["family_name"],
        "dateOfBirth": person["date_of_birth"].isoformat(),
        "postcode": person["postcode"],
    }
    badge = token("council_blue_badge", "BLUE_BADGE")
    care = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    async with running_client(linked.settings) as client:

        async def ask(t: str, query: str, d: dict[str, Any]) -> dict[str, Any]:
            response = await gql(client, t, query, {"d": d})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        assert "errors" not in await ask(badge, BADGE_BY_DETAILS, full)
        assert "errors" not in await ask(care, SPECIAL_BY_DETAILS, full)
        for blank in (" ", "   ", "-", "'.", "\t"):
            thin = {"givenName": blank, "familyName": person["family_name"], "dateOfBirth": None}
            assert codes(await ask(badge, BADGE_BY_DETAILS, thin)) == ["BAD_USER_INPUT"], repr(blank)
        for dob in ("9999-12-31", "1066-10-14", (dt.date.today() + dt.timedelta(days=1)).isoformat()):
            assert codes(await ask(badge, BADGE_BY_DETAILS, full | {"dateOfBirth": dob})) == ["BAD_USER_INPUT"], dob
        # Family name and date of birth: enough for benefit status, not for social care.
        two = {"familyName": person["family_name"], "dateOfBirth": person["date_of_birth"].isoformat()}
        assert codes(await ask(badge, BADGE_BY_DETAILS, two)) != ["BAD_USER_INPUT"]
        assert codes(await ask(care, SPECIAL_BY_DETAILS, two)) == ["BAD_USER_INPUT"]
        no_postcode = {k: v for k, v in full.items() if k != "postcode"}
        assert codes(await ask(care, SPECIAL_BY_DETAILS, no_postcode)) == ["BAD_USER_INPUT"]
        assert codes(await ask(care, SPECIAL_BY_DETAILS, full | {"postcode": "??"})) == ["BAD_USER_INPUT"]
        assert codes(await ask(badge, BADGE_BY_DETAILS, full | {"givenName": "A\x00B"})) == ["BAD_USER_INPUT"]


async def test_special_category_corroboration_must_be_the_persons_own(linked: Linked, token: Any) -> None:
    """A right name and date of birth with any well-formed postcode or NHS number is not enough for social
    care data: the corroborating detail must be the linked record's."""
    person = await linked.admin["src_dwp"].fetchrow(
        "SELECT given_name, family_name, date_of_birth, postcode FROM dwp.person "
        "WHERE postcode IS NOT NULL ORDER BY person_id LIMIT 1 OFFSET 7"
    )
    right = {
        "givenName": person["given_name"],
        "familyName": person["family_name"],
        "dateOfBirth": person["date_of_birth"].isoformat(),
        "postcode": person["postcode"],
    }
    care = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    async with running_client(linked.settings) as client:

        async def ask(d: dict[str, Any]) -> dict[str, Any]:
            body: dict[str, Any] = (await gql(client, care, SPECIAL_BY_DETAILS, {"d": d})).json()
            return body

        assert "errors" not in await ask(right)
        wrong_postcode = right | {"postcode": "ZZ1 1ZZ"}
        someone_elses_nhs = {k: v for k, v in right.items() if k != "postcode"} | {"nhsNumber": "9434765919"}
        for d in (wrong_postcode, someone_elses_nhs):
            body = await ask(d)
            assert codes(body) == ["SUBJECT_NOT_FOUND"], (d, body)
            assert body["data"] == {"person": None}
