"""Audit receipts over HTTP (issue 13.8): every response that releases or refuses carries, in
``extensions.auditReceipt``, its audit record's place in the chain signed by the hub's audit key, and
``welfare-hub audit verify --receipt`` checks one against the log, so a caller holding a receipt sees its
record cut from the log's end or rewritten even where no checkpoint signed it yet. The chain's head is
signed by count as well as by time, so such a cut is bounded too.

The session's hub answers the releases and refusals (its log stays whole); the cuts are made in a hub of
this module's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hub.audit.chain import canonical_body, record_hash
from hub.audit.checkpoints import AuditKeys, load_public_document, write_checkpoint
from hub.audit.receipts import Receipt
from hub.cli import main
from hub.config import Settings, store_role_names
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migrate, quote_ident
from tests import people as P
from tests.conftest import AUDIENCE, ISSUER, codes, gql, make_token, running_client

BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
TOO_MUCH = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { name { familyName } } } }"
TYPO = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectI } }"
REFUSED_EVENTS = """query($org: String!) { auditEvents(purpose: AUDIT, organisation: $org, decision: REFUSED, first: 10) {
  items { eventId decision reasonCodes recordHash } } }"""


def receipt_of(body: dict[str, Any]) -> Receipt:
    return Receipt.from_document(body["extensions"]["auditReceipt"])


def _env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WELFARE_HUB_DB_PREFIX", settings.db_prefix)
    monkeypatch.setenv("WELFARE_HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WELFARE_HUB_AUDIT_KEYS", str(settings.audit_keys_path))
    monkeypatch.setenv("WELFARE_HUB_KEYS", str(settings.keys_path))


async def _verify_receipt(where: Path | str, published: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``welfare-hub audit verify --receipt`` against the published keys: its exit code and its verdict."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify", "--receipt", str(where), "--public-keys", str(published)])
    return code, capsys.readouterr().err


async def _published(client: httpx.AsyncClient, tmp_path: Path) -> Path:
    path = tmp_path / "published.json"
    path.write_text((await client.get("/audit/keys")).text)
    return path


async def test_releases_and_refusals_carry_receipts_that_verify(
    client: httpx.AsyncClient,
    token: Any,
    issuer: IssuerKey,
    settings: Settings,
    admin: dict[str, asyncpg.Connection],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="receipt-badges")
    released = (await gql(client, badge, BADGE, {"n": P.PIP_MOVING})).json()
    assert released["data"] == {"person": {"dwp": {"blueBadgeAutomaticEligibility": True}}}
    refused = (await gql(client, badge, TOO_MUCH, {"n": P.PIP_MOVING})).json()
    assert codes(refused) == ["PURPOSE_FORBIDS_FIELD"]
    unconnected = (await gql(client, badge, BADGE, {"n": P.OUTSIDER})).json()  # refused as a field resolves
    assert codes(unconnected) == ["SUBJECT_NOT_FOUND"]  # as "not found"; audited as NO_LEGITIMATE_RELATIONSHIP
    invalid = (await gql(client, badge, TYPO, {"n": P.PIP_MOVING})).json()  # refused by validation
    assert codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    stranger = issuer.mint(
        issuer=ISSUER,
        audience=AUDIENCE,
        org="receipt-unregistered",
        org_type="council_blue_badge",
        user="u",
        purposes=["BLUE_BADGE"],
    )
    unknown = (await gql(client, stranger, BADGE, {"n": P.PIP_MOVING})).json()  # refused before parsing
    assert codes(unknown) == ["UNKNOWN_ORGANISATION"]
    responses = [released, refused, unconnected, invalid, unknown]

    keys = load_public_document((await client.get("/audit/keys")).json())
    receipts = [receipt_of(body) for body in responses]
    assert len({r.seq for r in receipts}) == len(receipts)
    for receipt in receipts:
        assert receipt.signature_ok(keys) is True
        row = await admin["hub"].fetchrow("SELECT * FROM hub.audit_event WHERE seq = $1", receipt.seq)
        assert row["request_id"] == receipt.request_id
        assert bytes(row["record_hash"]) == receipt.record_hash
        assert record_hash(bytes(row["prev_hash"]), receipt.seq, row["occurred_at"], canonical_body(row)) == (
            receipt.record_hash
        )
    decisions = await admin["hub"].fetch(
        "SELECT seq, decision FROM hub.audit_event WHERE seq = ANY($1::bigint[]) ORDER BY seq",
        [r.seq for r in receipts],
    )
    assert [d["decision"] for d in decisions] == ["released", "refused", "refused", "refused", "refused"]
    # Each receipt says what its record says that the caller can check itself: the decision, the fields
    # released (none, when refused), the caller and the operation.
    said = [(r.said.decision, r.said.caller_org, bool(r.said.fields_released)) for r in receipts]
    assert said == [
        ("released", "receipt-badges", True),
        ("refused", "receipt-badges", False),
        ("refused", "receipt-badges", False),
        ("refused", "receipt-badges", False),
        ("refused", "receipt-unregistered", False),
    ]
    assert set(receipts[0].said.fields_released) == {
        "Query.person",
        "Person.dwp",
        "DwpRecord.blueBadgeAutomaticEligibility",
    }
    # The field-level refusal is found by the auditor's "refused" filter (it was recorded as an error).
    auditor = token("auditor", "AUDIT", org="receipt-audit")
    found = (await gql(client, auditor, REFUSED_EVENTS, {"org": "receipt-badges"})).json()
    assert "errors" not in found, found
    seen = {int(e["eventId"]): e for e in found["data"]["auditEvents"]["items"]}
    assert seen[receipts[2].seq]["reasonCodes"] == ["NO_LEGITIMATE_RELATIONSHIP"]
    assert seen[receipts[2].seq]["recordHash"] == receipts[2].record_hash.hex()

    # The command checks each against the published keys and the log; a whole saved response will do,
    # or the receipt on standard input.
    _env(settings, monkeypatch)
    published = await _published(client, tmp_path)
    saved = tmp_path / "released.json"
    saved.write_text(json.dumps(released))
    code, verdict = await _verify_receipt(saved, published, capsys)
    assert code == 0, verdict
    assert f"the log holds record {receipts[0].seq}" in verdict
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(refused["extensions"]["auditReceipt"])))
    assert (await _verify_receipt("-", published, capsys))[0] == 0


async def test_a_response_that_released_nothing_for_want_of_its_audit_carries_no_receipt(
    client: httpx.AsyncClient, token: Any, settings: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="receipt-badges")
    service = quote_ident(store_role_names(settings.db_prefix, "hub")[1])
    await admin["hub"].execute(f"REVOKE EXECUTE ON FUNCTION hub.audit_append FROM {service}")
    try:
        failed = (await gql(client, badge, BADGE, {"n": P.PIP_MOVING})).json()
    finally:
        await admin["hub"].execute(f"GRANT EXECUTE ON FUNCTION hub.audit_append TO {service}")
    assert codes(failed) == ["AUDIT_UNAVAILABLE"]
    assert "data" not in failed  # refused before execution: a request error
    assert "auditReceipt" not in failed.get("extensions", {})
    unauthenticated = await client.post("/graphql", json={"query": "{ __typename }"})
    assert unauthenticated.status_code == 401
    assert "extensions" not in unauthenticated.json() or "auditReceipt" not in unauthenticated.json()["extensions"]


async def test_a_tampered_receipt_fails(
    client: httpx.AsyncClient,
    token: Any,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="receipt-badges")
    first = (await gql(client, badge, BADGE, {"n": P.PIP_MOVING})).json()["extensions"]["auditReceipt"]
    second = (await gql(client, badge, BADGE, {"n": P.PIP_MOVING})).json()["extensions"]["auditReceipt"]
    _env(settings, monkeypatch)
    published = await _published(client, tmp_path)
    flipped = first["recordHash"][:-1] + ("0" if first["recordHash"][-1] != "0" else "1")
    for name, tampered, kind in [
        ("hash", first | {"recordHash": flipped}, "forged_receipt"),
        ("seq", first | {"seq": second["seq"]}, "forged_receipt"),
        ("request", first | {"requestId": str(uuid.uuid4())}, "forged_receipt"),
        ("signature", first | {"signature": second["signature"]}, "forged_receipt"),
        ("key", first | {"keyId": "someone-else"}, "forged_receipt"),
        ("decision", first | {"decision": "refused"}, "forged_receipt"),  # claiming the hub said otherwise
        ("fields", first | {"fieldsReleased": []}, "forged_receipt"),
    ]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(tampered))
        code, verdict = await _verify_receipt(path, published, capsys)
        assert code == 1, (name, verdict)
        assert f"FAILED: {kind}" in verdict, (name, verdict)
    unreadable = tmp_path / "unreadable.json"
    unreadable.write_text(json.dumps(first | {"format": "something-else"}))
    assert (await _verify_receipt(unreadable, published, capsys))[0] == 2


# -- a hub of this module's own, whose log may be cut ---------------------------------------------------


@pytest.fixture(scope="module")
async def own_hub(settings: Settings) -> AsyncIterator[Settings]:
    own = replace(settings, db_prefix=f"r{uuid.uuid4().hex[:10]}_", audit_checkpoint_seconds=3600.0)
    await migrate(own)
    try:
        yield own
    finally:
        await drop_stores(own)


@pytest.fixture
async def hub_admin(own_hub: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(own_hub.admin_url("hub"))
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def tampering(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The superuser switches the append-only triggers off: what only an attacker holding the database does."""
    await db.execute("ALTER TABLE hub.audit_event DISABLE TRIGGER USER")
    try:
        yield db
    finally:
        await db.execute("ALTER TABLE hub.audit_event ENABLE TRIGGER USER")


async def _receipts(client: httpx.AsyncClient, t: str, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        body = (await gql(client, t, "{ __typename }")).json()
        assert body["data"] == {"__typename": "Query"}
        out.append(body["extensions"]["auditReceipt"])
    return out


async def test_records_cut_from_the_end_are_caught_by_their_receipts(
    own_hub: Settings,
    hub_admin: asyncpg.Connection,
    issuer: IssuerKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    own = replace(own_hub, audit_checkpoint_every_records=0)  # signed by time only, and not within the test
    t = make_token(issuer, own)("council_blue_badge", "BLUE_BADGE", org="cut-badges")
    _env(own, monkeypatch)
    # All while the hub runs: it signs its head as it stops.
    async with running_client(own) as client:
        receipts = await _receipts(client, t, 4)
        published = await _published(client, tmp_path)
        files = []
        for n, receipt in enumerate(receipts):
            files.append(tmp_path / f"receipt-{n}.json")
            files[-1].write_text(json.dumps(receipt))
        assert [(await _verify_receipt(f, published, capsys))[0] for f in files] == [0, 0, 0, 0]

        # The newest two records are cut. Nothing signed them yet, so the log alone still verifies...
        async with tampering(hub_admin) as db:
            await db.execute("DELETE FROM hub.audit_event WHERE seq >= $1", receipts[2]["seq"])
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["audit", "verify", "--public-keys", str(published)]) == 0
        # ... but whoever holds a receipt for them sees it.
        code, verdict = await _verify_receipt(files[3], published, capsys)
        assert code == 1
        assert f"FAILED: missing: record {receipts[3]['seq']}, which the receipt names, is not in the log" in verdict
        assert (await _verify_receipt(files[1], published, capsys))[0] == 0

        # A record rewritten, and the chain recomputed from it (self-consistent again), is caught the same way.
        async with tampering(hub_admin) as db:
            await db.execute("UPDATE hub.audit_event SET decision = 'refused' WHERE seq = $1", receipts[1]["seq"])
            rows = await db.fetch("SELECT * FROM hub.audit_event WHERE seq >= $1 ORDER BY seq", receipts[1]["seq"])
            prev = bytes(rows[0]["prev_hash"])
            for row in rows:
                new = record_hash(prev, row["seq"], row["occurred_at"], canonical_body(row))
                await db.execute(
                    "UPDATE hub.audit_event SET prev_hash = $1, record_hash = $2 WHERE seq = $3", prev, new, row["seq"]
                )
                prev = new
        assert await asyncio.to_thread(main, ["audit", "verify", "--public-keys", str(published)]) == 0
        code, verdict = await _verify_receipt(files[1], published, capsys)
        assert code == 1
        assert "FAILED: rewritten: record" in verdict
        assert (await _verify_receipt(files[0], published, capsys))[0] == 0


async def test_the_chain_head_is_signed_after_every_n_records(
    own_hub: Settings, hub_admin: asyncpg.Connection, issuer: IssuerKey
) -> None:
    # By time only once an hour: the checkpoints seen here are the ones made by count.
    own = replace(own_hub, audit_checkpoint_every_records=3)
    t = make_token(issuer, own)("council_blue_badge", "BLUE_BADGE", org="count-badges")

    async def signed_through() -> int:
        return int(await hub_admin.fetchval("SELECT coalesce(max(seq), 0) FROM hub.audit_checkpoint"))

    async def signed_after(seq: int) -> int:
        for _ in range(100):  # ten seconds at most: the role looks every second
            if (done := await signed_through()) >= seq:
                return done
            await asyncio.sleep(0.1)
        raise AssertionError(f"no checkpoint through record {seq} after 10 s")

    assert own.audit_keys_path is not None
    await write_checkpoint(hub_admin, AuditKeys.load(own.audit_keys_path))  # whatever came before is signed
    async with running_client(own) as client:
        start = await signed_through()
        receipts = await _receipts(client, t, 3)
        assert receipts[0]["seq"] > start
        first = await signed_after(receipts[-1]["seq"])
        assert first == receipts[-1]["seq"]
        fewer = await _receipts(client, t, 2)  # fewer than three since: not signed
        await asyncio.sleep(2.5)  # more than two rounds of the role
        assert await signed_through() == first
        more = await _receipts(client, t, 1)
        assert await signed_after(more[-1]["seq"]) == more[-1]["seq"] == fewer[-1]["seq"] + 1
