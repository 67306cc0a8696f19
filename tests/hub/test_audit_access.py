"""Auditors, the people concerned and the public reading the audit log through the API, on real PostgreSQL.

A person of this module's own (no other test looks them up) is looked up, released and refused, so the
subject access report can be checked entry for entry against what happened here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.keys import load_key_ring
from hub.audit.transparency import render_transparency
from hub.cli import main
from hub.config import Settings
from hub.execution.schema import build_schema, load_purposes
from hub.records.orgs import record_staff
from linkage import NormalisedNino, check_nino, subject_hash, user_hash
from linkage.link import person_key_for
from tests.conftest import codes, gql
from tests.telemetry import Telemetry

REGISTER = load_purposes(Settings(), build_schema(Settings()))
BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
BADGE_FIELDS = {"Query.person", "Person.dwp", "DwpRecord.blueBadgeAutomaticEligibility"}
SAR = """query($n: String!) { subjectAccessReport(purpose: SUBJECT_ACCESS, nino: $n) {
  generatedAt entries { occurredAt organisation organisationType purpose legalBasis fields } } }"""
EVENTS = """query($n: String, $org: String, $decision: AuditDecision, $first: Int!, $after: ID) {
  auditEvents(purpose: AUDIT, subjectNino: $n, organisation: $org, decision: $decision, first: $first, after: $after) {
    items { eventId occurredAt callerOrg callerOrgType purpose legalBasis subjects fieldsReleased decision
             reasonCodes traceId recordHash }
    nextCursor } }"""
HOLD = 'mutation($e: ID!) { placeInvestigationHold(purpose: AUDIT, eventId: $e, reason: "CASE-2026-17") { holdId eventId liftedAt } }'
LIFT = "mutation($h: ID!) { liftInvestigationHold(purpose: AUDIT, holdId: $h) { holdId liftedAt } }"


def _nino() -> str:
    while True:
        candidate = f"JM{random.randrange(10**6):06d}C"
        if check_nino(candidate).nino == candidate:
            return candidate


@pytest.fixture(scope="module")
async def subject(admin: dict[str, asyncpg.Connection], people: Any, telemetry: Telemetry) -> str:
    """A DWP person in the test council's area whom only this module looks up."""
    nino = _nino()
    person_id = await admin["src_dwp"].fetchval("SELECT coalesce(max(person_id), 0) + 1000 FROM dwp.person")
    await admin["src_dwp"].execute(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES ($1, $2, 'Winifred', NULL, 'Auditson', '1944-02-29', 'F', '7 Quay St', 'Northtown', 'NT6 7QQ', $1, "
        "'claimant')",
        person_id,
        nino,
    )
    await telemetry.remember_people(admin)
    return nino


@pytest.fixture(scope="module")
async def history(client: httpx.AsyncClient, token: Any, subject: str) -> dict[str, Any]:
    """What happened to the subject's data here: two releases to two organisations, two refusals."""
    started = dt.datetime.now(dt.UTC)
    released = []
    for org in ("sar-badge-north", "sar-badge-south"):
        body = (await gql(client, token("council_blue_badge", "BLUE_BADGE", org=org), BADGE, {"n": subject})).json()
        assert "errors" not in body, body
        released.append(org)
    wrong_org = (await gql(client, token("council_hb", "BLUE_BADGE", org="sar-hb"), BADGE, {"n": subject})).json()
    assert codes(wrong_org) == ["PURPOSE_NOT_GRANTED"]
    too_much = """query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { name { familyName } } } }"""
    wide = (
        await gql(client, token("council_blue_badge", "BLUE_BADGE", org="sar-badge-wide"), too_much, {"n": subject})
    ).json()
    assert codes(wide) == ["PURPOSE_FORBIDS_FIELD"]
    return {"started": started, "released": released, "ended": dt.datetime.now(dt.UTC)}


async def _events(client: httpx.AsyncClient, auditor: str, **variables: Any) -> list[dict[str, Any]]:
    """Every page of auditEvents, walked one event at a time (the cursor is what is tested)."""
    out, after = [], None
    while True:
        body = (await gql(client, auditor, EVENTS, {"first": 1, "after": after, **variables})).json()
        assert "errors" not in body, body
        page = body["data"]["auditEvents"]
        out += page["items"]
        after = page["nextCursor"]
        if after is None:
            return out


async def test_the_subject_access_report_lists_exactly_the_releases(
    client: httpx.AsyncClient, token: Any, subject: str, history: dict[str, Any]
) -> None:
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", org="hub-dpo")
    body = (await gql(client, dpo, SAR, {"n": subject})).json()
    assert "errors" not in body, body
    entries = body["data"]["subjectAccessReport"]["entries"]
    assert [e["organisation"] for e in entries] == history["released"]  # oldest first; refusals released nothing
    badge = REGISTER.purposes["BLUE_BADGE"]
    for entry in entries:
        assert entry["organisationType"] == "council_blue_badge"
        assert entry["purpose"] == "BLUE_BADGE"
        assert entry["legalBasis"] == badge.legal_basis
        assert set(entry["fields"]) == BADGE_FIELDS
        at = dt.datetime.fromisoformat(entry["occurredAt"])
        assert history["started"] <= at <= history["ended"]


async def test_a_hold_keeps_an_entry_back_until_it_is_lifted(
    client: httpx.AsyncClient, token: Any, subject: str, history: dict[str, Any]
) -> None:
    auditor = token("auditor", "AUDIT", org="internal-audit")
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", org="hub-dpo")
    released = await _events(client, auditor, n=subject, decision="RELEASED")
    south = next(e for e in released if e["callerOrg"] == "sar-badge-south")
    placed = (await gql(client, auditor, HOLD, {"e": south["eventId"]})).json()["data"]["placeInvestigationHold"]
    assert placed["eventId"] == south["eventId"]
    assert placed["liftedAt"] is None
    held = (await gql(client, dpo, SAR, {"n": subject})).json()["data"]["subjectAccessReport"]["entries"]
    assert [e["organisation"] for e in held] == ["sar-badge-north"]  # no sign of the held entry

    lifted = (await gql(client, auditor, LIFT, {"h": placed["holdId"]})).json()["data"]["liftInvestigationHold"]
    assert lifted["liftedAt"] is not None
    again = (await gql(client, auditor, LIFT, {"h": placed["holdId"]})).json()
    assert again["data"]["liftInvestigationHold"] is None  # lifted once only
    shown = (await gql(client, dpo, SAR, {"n": subject})).json()["data"]["subjectAccessReport"]["entries"]
    assert [e["organisation"] for e in shown] == history["released"]
    nowhere = (await gql(client, auditor, HOLD, {"e": "999999999"})).json()
    assert nowhere["data"]["placeInvestigationHold"] is None


async def test_audit_events_filter_page_and_pseudonymise(
    client: httpx.AsyncClient, token: Any, subject: str, history: dict[str, Any]
) -> None:
    auditor = token("auditor", "AUDIT", org="internal-audit")
    everything = await _events(client, auditor, n=subject)
    # Newest first; oldest first come the two releases. The refusals named no one (they were refused before
    # any lookup), so they are not the subject's; the later operations are the oversight of this module.
    orgs = [e["callerOrg"] for e in everything]
    assert orgs[::-1][:2] == ["sar-badge-north", "sar-badge-south"]
    assert "sar-badge-wide" not in orgs
    assert "sar-hb" not in orgs
    assert [int(e["eventId"]) for e in everything] == sorted((int(e["eventId"]) for e in everything), reverse=True)
    north = next(e for e in everything if e["callerOrg"] == "sar-badge-north")
    assert set(north["fieldsReleased"]) == BADGE_FIELDS
    assert (north["decision"], north["purpose"], north["reasonCodes"]) == ("RELEASED", "BLUE_BADGE", [])
    assert all(len(e["recordHash"]) == 64 and len(e["traceId"]) == 32 for e in everything)
    (wide,) = await _events(client, auditor, org="sar-badge-wide")
    assert (wide["decision"], wide["reasonCodes"], wide["fieldsReleased"]) == ("REFUSED", ["PURPOSE_FORBIDS_FIELD"], [])
    assert wide["subjects"] == []
    only_north = await _events(client, auditor, n=subject, org="sar-badge-north")
    assert [e["callerOrg"] for e in only_north] == ["sar-badge-north"]

    # The subject appears as this auditor's pseudonym: the same in every event, another for another auditor.
    (mine,) = {s for e in everything for s in e["subjects"]}
    other = token("auditor", "AUDIT", org="commissioner")
    (theirs,) = {s for e in await _events(client, other, n=subject) for s in e["subjects"]}
    assert mine != theirs
    assert subject not in mine


@pytest.mark.parametrize(
    ("org_type", "purpose", "query", "code"),
    [
        (
            "council_hb",
            "HB_OVERNIGHT_CARER_ROOM",
            "{ auditEvents(purpose: HB_OVERNIGHT_CARER_ROOM) { nextCursor } }",
            "PURPOSE_FORBIDS_FIELD",
        ),
        ("council_hb", "AUDIT", "{ auditEvents(purpose: AUDIT) { nextCursor } }", "PURPOSE_NOT_GRANTED"),
        ("auditor", "AUDIT", '{ person(nino: "JK102030A", purpose: AUDIT) { subjectId } }', "PURPOSE_FORBIDS_FIELD"),
        (
            "auditor",
            "BLUE_BADGE",
            '{ person(nino: "JK102030A", purpose: BLUE_BADGE) { subjectId } }',
            "PURPOSE_NOT_GRANTED",
        ),
        (
            "council_hb",
            "SUBJECT_ACCESS",
            '{ subjectAccessReport(purpose: SUBJECT_ACCESS, nino: "JK102030A") { generatedAt } }',
            "PURPOSE_NOT_GRANTED",
        ),
        (
            "data_protection_officer",
            "SUBJECT_ACCESS",
            "{ auditEvents(purpose: SUBJECT_ACCESS) { nextCursor } }",
            "PURPOSE_FORBIDS_FIELD",
        ),
    ],
)
async def test_audit_data_is_refused_outside_its_purpose_and_the_refusal_is_audited(
    client: httpx.AsyncClient,
    token: Any,
    admin: dict[str, asyncpg.Connection],
    org_type: str,
    purpose: str,
    query: str,
    code: str,
) -> None:
    org = f"nosy-{org_type}-{purpose}".lower().replace("_", "-")
    body = (await gql(client, token(org_type, purpose, org=org), query)).json()
    assert codes(body) == [code]
    assert "data" not in body  # refused before execution: a request error
    row = await admin["hub"].fetchrow(
        "SELECT decision, reason_codes, fields_released FROM hub.audit_event WHERE caller_org = $1 ORDER BY seq DESC LIMIT 1",
        org,
    )
    assert (row["decision"], row["reason_codes"], row["fields_released"]) == ("refused", [code], [])


async def test_verification_over_the_api_matches_the_published_keys(client: httpx.AsyncClient, token: Any) -> None:
    auditor = token("auditor", "AUDIT", org="internal-audit")
    q = "{ auditVerification(purpose: AUDIT) { ok records lastEventId unsignedRecords problems { kind } publicKeys { keyId publicKey } } }"
    result = (await gql(client, auditor, q)).json()["data"]["auditVerification"]
    assert result["ok"] is True
    assert result["problems"] == []
    assert result["records"] >= 1
    published = (await client.get("/audit/keys")).json()["keys"]
    assert {k["keyId"]: k["publicKey"] for k in result["publicKeys"]} == published


async def test_the_transparency_report_counts_what_happened(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], settings: Settings
) -> None:
    since = dt.datetime.now(dt.UTC)
    north = token("council_blue_badge", "BLUE_BADGE", org="transparency-north")
    for nino in ("JK102032C", "JK102035B"):
        assert "errors" not in (await gql(client, north, BADGE, {"n": nino})).json()
    refused = token("council_hb", "BLUE_BADGE", org="transparency-hb")
    assert codes((await gql(client, refused, BADGE, {"n": "JK102032C"})).json()) == ["PURPOSE_NOT_GRANTED"]
    until = dt.datetime.now(dt.UTC)
    from hub.audit.events import AuditLog

    # The counts over these seconds, as the operator's command and the auditors read them.
    pool = await asyncpg.create_pool(settings.admin_url("hub"), min_size=1, max_size=1)
    try:
        data = await AuditLog(pool, timeout=10).transparency(since, until)
    finally:
        await pool.close()
    assert (data["requests"], data["releases"], data["refusals"], data["errors"]) == (3, 2, 1, 0)
    assert data["consent_refusals"] == 0
    assert data["by_purpose"] == {"BLUE_BADGE": {"released": 2, "refused": 1}}
    assert data["by_org_type"] == {"council_blue_badge": {"released": 2}, "council_hb": {"refused": 1}}
    assert data["refusal_reasons"] == {"PURPOSE_NOT_GRANTED": 1}
    assert sum(data["linkage_methods"].values()) == 2
    assert data["linkage_bands"] == {"link": 0, "not_linked": 0}

    # The public report covers whole days that have ended: never the seconds someone chose (counts over
    # them would tell a caller how its own lookup was recorded).
    q = """query($s: DateTime, $u: DateTime) { transparencyReport(since: $s, until: $u) {
      requests releases refusals errors consentRefusals refusalReasons { key count } linkageBands { key count } } }"""
    anyone = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="transparency-reader")  # public: any purpose
    windowed = (await gql(client, anyone, q, {"s": since.isoformat(), "u": until.isoformat()})).json()
    assert codes(windowed) == ["BAD_USER_INPUT"]
    body = (await gql(client, anyone, q, {"s": None, "u": None})).json()
    assert "errors" not in body, body
    assert [b["key"] for b in body["data"]["transparencyReport"]["linkageBands"]] == ["link", "not_linked"]

    md = render_transparency(data, "md")
    assert "| requests | 3 |" in md
    assert "| BLUE_BADGE | 2 | 0 | 1 | 0 |" in md
    csv_text = render_transparency(data, "csv")
    assert f"{since.isoformat()},{until.isoformat()},purpose,BLUE_BADGE,released,2" in csv_text.splitlines()


def test_audit_report_command(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WELFARE_HUB_DB_PREFIX", settings.db_prefix)
    monkeypatch.setenv("WELFARE_HUB_DATA_DIR", str(settings.data_dir))
    assert main(["audit", "report", "--since", "2000-01-01", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "since,until,section,key,measure,count"
    requests = next(line for line in lines if ",total,,requests," in line)
    assert int(requests.rsplit(",", 1)[1]) > 0
    assert main(["audit", "report", "--since", "2030-01-01", "--until", "2020-01-01"]) == 2


async def test_an_audit_event_opens_with_its_trace(
    client: httpx.AsyncClient, token: Any, subject: str, history: dict[str, Any]
) -> None:
    auditor = token("auditor", "AUDIT", org="internal-audit")
    (north,) = await _events(client, auditor, n=subject, org="sar-badge-north")
    q = """query($e: ID!) { auditEvent(purpose: AUDIT, eventId: $e) { eventId traceId callerOrg
      trace { spanId parentSpanId name kind durationMs status attributes { key value } } } }"""
    spans: list[dict[str, Any]] = []
    for _ in range(50):  # the hub writes its spans each second
        event = (await gql(client, auditor, q, {"e": north["eventId"]})).json()["data"]["auditEvent"]
        spans = event["trace"]
        # The spans are written each second: the server span, which ends last, may come in a later batch.
        if {"welfare_hub.audit", "POST /graphql"} <= {s["name"] for s in spans}:
            break
        await asyncio.sleep(0.1)
    assert event["traceId"] == north["traceId"]
    names = [s["name"] for s in spans]
    assert names[0] == "POST /graphql"
    assert {"query", "welfare_hub.purpose", "welfare_hub.link", "welfare_hub.audit"} <= set(names)
    assert any(n.startswith("SELECT ") for n in names)
    ids = {s["spanId"] for s in spans}
    assert all(s["parentSpanId"] in ids for s in spans[1:])  # one tree, rooted at the server span
    operation = next(s for s in spans if s["name"] == "query")
    attributes = {a["key"]: json.loads(a["value"]) for a in operation["attributes"]}
    assert attributes["welfare_hub.caller.org"] == "sar-badge-north"
    assert attributes["welfare_hub.decision"] == "released"
    assert subject not in json.dumps(spans)
    missing = (await gql(client, auditor, q, {"e": "999999999"})).json()
    assert missing["data"]["auditEvent"] is None


async def test_a_release_about_someone_at_the_users_own_address_is_flagged(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], settings: Settings, people: Any
) -> None:
    # An officer who is also a person the hub knows (hub.staff_identity), living with the person they look up.
    ring = load_key_ring(settings.keys_path)  # type: ignore[arg-type]
    officer_nino, neighbour_nino, stranger_nino = _nino(), _nino(), _nino()
    first = await admin["src_dwp"].fetchval("SELECT coalesce(max(person_id), 0) + 1000 FROM dwp.person")
    household = first
    rows = [
        (first, officer_nino, "Olwen", "Housemate", household, "12 Canal Row"),
        (first + 1, neighbour_nino, "Nesta", "Housemate", household, "12 Canal Row"),
        (first + 2, stranger_nino, "Sian", "Elsewhere", first + 2, "99 Far Lane"),
    ]
    await admin["src_dwp"].executemany(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES ($1, $2, $3, NULL, $4, '1970-06-15', 'F', $6, 'Northtown', 'NT6 1CR', $5, 'claimant')",
        rows,
    )
    for person_id, nino, *_ in rows:
        await admin["hub"].execute(
            "INSERT INTO hub.link (source, source_record_id, person_key, nino_key_id, nino_hash, method, band, "
            "fingerprint) VALUES ('dwp', $1, $2, $3, $4, 'nino', 'link', 'test')",
            str(person_id),
            person_key_for(str(person_id)),
            ring.hash_nino(NormalisedNino(nino)).key_id,
            ring.hash_nino(NormalisedNino(nino)).value,
        )
    await record_staff(
        admin["hub"],
        [
            (
                user_hash(ring, "neighbour-team", "officer-1"),
                subject_hash(ring, NormalisedNino(officer_nino)),
                person_key_for(str(first)),
            )
        ],
    )
    since = dt.datetime.now(dt.UTC)
    t = token("council_blue_badge", "BLUE_BADGE", org="neighbour-team")
    for nino in (neighbour_nino, neighbour_nino, stranger_nino):
        assert "errors" not in (await gql(client, t, BADGE, {"n": nino})).json()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    auditor = token("auditor", "AUDIT", org="internal-audit")
    q = """query($s: DateTime!, $u: DateTime!) { auditAnomalies(purpose: AUDIT, since: $s, until: $u) {
      kind organisation user count firstEventId lastEventId } }"""
    body = (await gql(client, auditor, q, {"s": since.isoformat(), "u": until.isoformat()})).json()
    assert "errors" not in body, body
    flagged = [a for a in body["data"]["auditAnomalies"] if a["kind"] == "SAME_ADDRESS"]
    assert flagged == [
        {
            "kind": "SAME_ADDRESS",
            "organisation": "neighbour-team",
            "user": user_hash(ring, "neighbour-team", "officer-1"),
            "count": 2,
            "firstEventId": flagged[0]["firstEventId"],
            "lastEventId": flagged[0]["lastEventId"],
        }
    ]
    assert int(flagged[0]["lastEventId"]) > int(flagged[0]["firstEventId"])


async def test_a_row_forged_around_the_chain_reaches_no_report_and_fails_verification(
    settings: Settings,
    issuer: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 13.7: a row with no sequence number, written around the append function, made a subject access
    # report list a release that never happened while `audit verify` said OK. In a hub of its own (the
    # session's log stays whole), by the superuser: the service role may no longer insert at all.
    from dataclasses import replace

    from hub.ops.migrate import drop_stores, migrate
    from hub.records.orgs import load_areas
    from hub.types import SOURCE_STORES
    from tests import people as P
    from tests.conftest import TEST_COUNCIL, make_token, running_client
    from tests.people import insert_people

    own = replace(settings, db_prefix=f"f{random.randrange(16**10):010x}_")
    await migrate(own)
    conns = {store: await asyncpg.connect(own.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        await insert_people(conns)
        await load_areas(conns["hub"], [(f"NT{n}", TEST_COUNCIL) for n in range(1, 10)])
        mint = make_token(issuer, own)
        hub = conns["hub"]
        async with running_client(own) as client:
            badge = mint("council_blue_badge", "BLUE_BADGE", org="honest-badges")
            assert "errors" not in (await gql(client, badge, BADGE, {"n": P.PIP_MOVING})).json()
            real = await hub.fetchrow("SELECT * FROM hub.audit_event WHERE caller_org = 'honest-badges'")
            await hub.execute("ALTER TABLE hub.audit_event DROP CONSTRAINT IF EXISTS audit_event_sequenced")
            forged = await hub.fetchval(
                "INSERT INTO hub.audit_event (request_id, caller_org, caller_org_type, caller_user_hash, purpose, "
                "legal_basis, subject_key_id, subject_hashes, fields_released, decision) "
                "VALUES (gen_random_uuid(), 'forger-badges', 'council_blue_badge', $1, 'BLUE_BADGE', $2, $3, $4, $5, "
                "'released') RETURNING event_id",
                real["caller_user_hash"],
                real["legal_basis"],
                real["subject_key_id"],
                real["subject_hashes"],
                real["fields_released"],
            )
            await hub.execute(
                "ALTER TABLE hub.audit_event ADD CONSTRAINT audit_event_sequenced "
                "CHECK (seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL) NOT VALID"
            )
            dpo = mint("data_protection_officer", "SUBJECT_ACCESS", org="forged-dpo")
            body = (await gql(client, dpo, SAR, {"n": P.PIP_MOVING})).json()
            assert "errors" not in body, body
            assert [e["organisation"] for e in body["data"]["subjectAccessReport"]["entries"]] == ["honest-badges"]
            auditor = mint("auditor", "AUDIT", org="forged-audit")
            q = "{ auditVerification(purpose: AUDIT) { ok problems { kind eventId message } } }"
            verification = (await gql(client, auditor, q)).json()["data"]["auditVerification"]
            assert verification["ok"] is False
            assert [(p["kind"], p["eventId"]) for p in verification["problems"]] == [("UNCHAINED", None)]
            assert f"row {forged} " in verification["problems"][0]["message"]
        monkeypatch.setenv("DATABASE_URL", str(own.database_url))
        monkeypatch.setenv("WELFARE_HUB_DB_PREFIX", own.db_prefix)
        monkeypatch.setenv("WELFARE_HUB_DATA_DIR", str(own.data_dir))
        monkeypatch.setenv("WELFARE_HUB_AUDIT_KEYS", str(own.audit_keys_path))
        monkeypatch.setenv("WELFARE_HUB_KEYS", str(own.keys_path))
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
        err = capsys.readouterr().err
        assert f"FAILED: unchained: row {forged} " in err
        assert "forger-badges" not in err
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))
        await drop_stores(own)
