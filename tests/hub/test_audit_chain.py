"""The tamper-evident audit log on a real PostgreSQL: the chain, checkpoints, and every way to break them.

Each test gets a hub store of its own (tampering needs the owner to switch the append-only triggers off,
as an attacker with the database would), so the session's own log stays whole and is verified too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
import pytest

from hub.audit.chain import AuditRecord, PgAuditSink, canonical_body, record_hash
from hub.audit.checkpoints import AuditKeys, load_public_document, write_checkpoint
from hub.audit.verify import export, verify_database, verify_export
from hub.cli import main
from hub.config import Settings, store_role_names
from hub.ops.migrate import drop_stores, migrate
from tests import people as P
from tests.conftest import gql

KEYS = AuditKeys.generate("chain-a1")


@dataclass
class Chain:
    settings: Settings
    pool: asyncpg.Pool
    admin: asyncpg.Connection
    sink: PgAuditSink

    async def write(self, n: int, **fields: Any) -> None:
        for _ in range(n):
            await self.sink.write(record(**fields))

    async def verify(self, keys: AuditKeys = KEYS) -> dict[str, Any]:
        return (await verify_database(self.admin, keys.public)).summary()

    @contextlib.asynccontextmanager
    async def tampering(self) -> AsyncIterator[asyncpg.Connection]:
        """The owner switches the append-only triggers off: what only an attacker holding the database does."""
        await self.admin.execute("ALTER TABLE hub.audit_event DISABLE TRIGGER USER")
        await self.admin.execute("ALTER TABLE hub.audit_checkpoint DISABLE TRIGGER USER")
        try:
            yield self.admin
        finally:
            await self.admin.execute("ALTER TABLE hub.audit_event ENABLE TRIGGER USER")
            await self.admin.execute("ALTER TABLE hub.audit_checkpoint ENABLE TRIGGER USER")


def record(**fields: Any) -> AuditRecord:
    base = AuditRecord(
        request_id=uuid.uuid4(),
        operation_type="query",
        operation_name="Lookup",
        caller_org="northshire-hb",
        caller_org_type="council_hb",
        caller_user_hash="u" * 64,
        purpose="HB_OVERNIGHT_CARER_ROOM",
        legal_basis="SSAA 1992 s.7A",
        subject_key_id="k1",
        subject_hashes=["s" * 64],
        link_method="nino",
        fields_released=["Person.subjectId", "SocialCare.overnightCareRequired"],
        sources_read=["social_care"],
        decision="released",
        reason_codes=[],
        trace_id="0af7651916cd43dd8448eb211c80319c",
        link_probability=0.99971234,
        model_version="fs-abc",
    )
    return replace(base, **fields)


@pytest.fixture(scope="module")
async def chain_store(server_url: str, settings: Settings) -> AsyncIterator[Chain]:
    own = replace(settings, db_prefix=f"a{uuid.uuid4().hex[:10]}_")
    await migrate(own)
    pool = await asyncpg.create_pool(own.service_url("hub"), min_size=1, max_size=8)
    admin = await asyncpg.connect(own.admin_url("hub"))
    try:
        yield Chain(own, pool, admin, PgAuditSink(pool, timeout=5.0))
    finally:
        await admin.close()
        await pool.close()
        await drop_stores(own)


@pytest.fixture
async def chain(chain_store: Chain) -> Chain:
    """An empty log for each test (its owner empties it, triggers off, as only the tests may)."""
    async with chain_store.tampering() as db:
        await db.execute("TRUNCATE hub.audit_event, hub.audit_checkpoint RESTART IDENTITY")
    return chain_store


def kinds(summary: dict[str, Any]) -> list[tuple[str, int]]:
    return [(p["kind"], p["seq"]) for p in summary["problems"]]


# -- the chain -----------------------------------------------------------------------------------------


async def test_concurrent_writers_make_one_unbroken_chain(chain: Chain) -> None:
    await asyncio.gather(*(chain.sink.write(record(decision=d)) for d in ["released", "refused"] * 60))
    rows = await chain.admin.fetch("SELECT seq, occurred_at FROM hub.audit_event ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, 121))
    assert all(a["occurred_at"] <= b["occurred_at"] for a, b in itertools.pairwise(rows))
    summary = await chain.verify()
    assert summary["ok"], summary
    assert (summary["records"], summary["last_seq"], summary["unsigned_records"]) == (120, 120, 120)


async def test_the_hash_covers_exactly_what_python_computes(chain: Chain) -> None:
    # The database hashes (hub.audit_append) and the verifier (Python) must agree byte for byte.
    await chain.write(3)
    rows = await chain.admin.fetch("SELECT * FROM hub.audit_event ORDER BY seq")
    assert bytes(rows[0]["prev_hash"]) == bytes(32)
    for prev, row in zip([None, *rows], rows, strict=False):
        if prev is not None:
            assert bytes(row["prev_hash"]) == bytes(prev["record_hash"])
        expected = record_hash(bytes(row["prev_hash"]), row["seq"], row["occurred_at"], canonical_body(row))
        assert bytes(row["record_hash"]) == expected


async def test_a_checkpoint_signs_the_head(chain: Chain) -> None:
    await chain.write(10)
    signed = await write_checkpoint(chain.admin, KEYS)
    assert signed is not None
    assert signed.seq == 10
    assert await write_checkpoint(chain.admin, KEYS) is None  # nothing new to sign
    await chain.write(5)
    summary = await chain.verify()
    assert summary["ok"], summary
    assert (summary["checkpoints"], summary["last_checkpoint_seq"], summary["unsigned_records"]) == (1, 10, 5)


async def test_a_bad_checkpoint_row_cannot_pre_empt_the_genuine_one(chain: Chain) -> None:
    """Whoever holds the service role's login may call the checkpoint function with any signature: that row
    counts for nothing (the genuine checkpoint of the same head is still written, and verification names
    the bad one)."""
    await chain.write(3)
    head = await chain.admin.fetchrow("SELECT seq, record_hash FROM hub.audit_event ORDER BY seq DESC LIMIT 1")
    await chain.pool.fetchval(
        "SELECT hub.audit_checkpoint_append($1, $2, now(), $3, $4)",
        head["seq"],
        head["record_hash"],
        KEYS.current,
        bytes(64),
    )
    signed = await write_checkpoint(chain.pool, KEYS)
    assert signed is not None
    assert signed.seq == head["seq"]
    summary = await chain.verify()
    assert "forged_checkpoint" in {p["kind"] for p in summary["problems"]}


async def test_the_log_and_its_checkpoints_refuse_update_and_delete(chain: Chain) -> None:
    await chain.write(2)
    await write_checkpoint(chain.admin, KEYS)
    for statement in (
        "UPDATE hub.audit_event SET decision = 'refused'",
        "DELETE FROM hub.audit_event",
        "UPDATE hub.audit_checkpoint SET seq = 1",
        "DELETE FROM hub.audit_checkpoint",
        "TRUNCATE hub.audit_checkpoint",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await chain.admin.execute(statement)  # the owner, even
    assert (await chain.verify())["ok"]


# -- tampering: each is named --------------------------------------------------------------------------


async def test_a_tampered_record_is_named(chain: Chain) -> None:
    await chain.write(8)
    async with chain.tampering() as db:
        await db.execute("UPDATE hub.audit_event SET caller_org = 'someone-else' WHERE seq = 4")
    summary = await chain.verify()
    assert not summary["ok"]
    assert kinds(summary) == [("altered", 4)]
    assert "record 4" in summary["first_problem"]["message"]


async def test_a_missing_record_is_named(chain: Chain) -> None:
    await chain.write(8)
    async with chain.tampering() as db:
        await db.execute("DELETE FROM hub.audit_event WHERE seq = 5")
    summary = await chain.verify()
    assert summary["first_problem"]["kind"] == "missing"
    assert summary["first_problem"]["seq"] == 5


async def test_records_cut_from_the_end_are_caught_by_the_checkpoint(chain: Chain) -> None:
    await chain.write(8)
    await write_checkpoint(chain.admin, KEYS)
    async with chain.tampering() as db:
        await db.execute("DELETE FROM hub.audit_event WHERE seq >= 7")
    summary = await chain.verify()
    assert kinds(summary) == [("missing", 7)]


async def test_reordered_records_are_named(chain: Chain) -> None:
    await chain.write(8)
    async with chain.tampering() as db:  # swap records 3 and 6, hashes and all
        await db.execute("UPDATE hub.audit_event SET seq = 1000 WHERE seq = 3")
        await db.execute("UPDATE hub.audit_event SET seq = 3 WHERE seq = 6")
        await db.execute("UPDATE hub.audit_event SET seq = 6 WHERE seq = 1000")
    summary = await chain.verify()
    assert summary["first_problem"]["seq"] == 3
    assert ("altered", 3) in kinds(summary)
    assert ("altered", 6) in kinds(summary)


async def test_a_recomputed_chain_is_caught_by_the_signed_checkpoint(chain: Chain) -> None:
    # An attacker who changes a record and recomputes every hash after it makes a self-consistent chain;
    # only the checkpoint, which they cannot sign, gives them away.
    await chain.write(6)
    await write_checkpoint(chain.admin, KEYS)
    async with chain.tampering() as db:
        await db.execute("UPDATE hub.audit_event SET decision = 'refused' WHERE seq = 2")
        rows = await db.fetch("SELECT * FROM hub.audit_event ORDER BY seq")
        prev = bytes(32)
        for row in rows:
            new = record_hash(prev, row["seq"], row["occurred_at"], canonical_body(row))
            await db.execute(
                "UPDATE hub.audit_event SET prev_hash = $1, record_hash = $2 WHERE seq = $3", prev, new, row["seq"]
            )
            prev = new
    summary = await chain.verify()
    assert kinds(summary) == [("rewritten", 6)]


async def test_a_forged_checkpoint_is_named(chain: Chain) -> None:
    await chain.write(4)
    head = await chain.admin.fetchrow("SELECT seq, record_hash FROM hub.audit_event ORDER BY seq DESC LIMIT 1")
    forger = AuditKeys.generate("chain-a1")  # the right key id, the wrong key
    forged = forger.sign(head["seq"], bytes(head["record_hash"]), dt.datetime.now(dt.UTC))
    await chain.admin.execute(
        "INSERT INTO hub.audit_checkpoint (seq, head_hash, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        forged.seq,
        forged.head_hash,
        forged.signed_at,
        forged.key_id,
        forged.signature,
    )
    summary = await chain.verify()
    assert kinds(summary) == [("forged_checkpoint", 4)]
    assert "signature does not verify" in summary["first_problem"]["message"]
    # Signed by a key the auditor never trusted: named as such.
    other = await verify_database(chain.admin, AuditKeys.generate("someone").public)
    assert [(p.kind, "unknown key" in p.message) for p in other.problems] == [("forged_checkpoint", True)]


# -- only the append function writes the log (issue 13.7) ----------------------------------------------

FORGED = "t" * 64  # the subject a forged row claims was released


@contextlib.asynccontextmanager
async def _unsequenced(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """What the database lets no one do without DDL, whoever they are: write a row outside the chain. The
    superuser drops the constraint for it, then puts it back."""
    await db.execute("ALTER TABLE hub.audit_event DROP CONSTRAINT IF EXISTS audit_event_sequenced")
    try:
        yield db
    finally:
        await db.execute(
            "ALTER TABLE hub.audit_event ADD CONSTRAINT audit_event_sequenced "
            "CHECK (seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL) NOT VALID"
        )


async def _forge_outside_the_chain(db: asyncpg.Connection, **columns: Any) -> int:
    """A row with no sequence number, inserted by the superuser around the append function."""
    values = {
        "request_id": uuid.uuid4(),
        "caller_org": "forger-org",
        "caller_org_type": "council_hb",
        "caller_user_hash": "f" * 64,
        "subject_hashes": [FORGED],
        "fields_released": ["SocialCare.overnightCareRequired"],
        "decision": "released",
        **columns,
    }
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    async with _unsequenced(db):
        return int(
            await db.fetchval(
                f"INSERT INTO hub.audit_event ({names}) VALUES ({params}) RETURNING event_id",
                *values.values(),
            )
        )


async def test_the_service_role_may_append_but_not_write_the_log(chain: Chain) -> None:
    await chain.write(2)
    _, service = store_role_names(chain.settings.db_prefix, "hub")
    async with chain.pool.acquire() as conn:  # the service's own DSN (Settings.service_url)
        assert await conn.fetchval("SELECT current_user") == service
        for statement, args in (
            (
                "INSERT INTO hub.audit_event (request_id, caller_org, caller_org_type, caller_user_hash, decision) "
                "VALUES ($1, 'forger-org', 'council_hb', 'u', 'released')",
                [uuid.uuid4()],
            ),
            ("UPDATE hub.audit_event SET decision = 'refused'", []),
            ("DELETE FROM hub.audit_event", []),
            (
                "INSERT INTO hub.audit_checkpoint (seq, head_hash, signed_at, key_id, signature) "
                "VALUES (2, $1, now(), 'chain-a1', $2)",
                [bytes(32), bytes(64)],
            ),
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, *args)
        # Through the checkpoint function, a head the log does not hold is refused too.
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.fetchval(
                "SELECT hub.audit_checkpoint_append(2, $1, now(), 'chain-a1', $2)", bytes(32), bytes(64)
            )
    # The append function is the way in: it runs as the owner, with a search_path no caller can change.
    appended = await chain.sink.write(record())
    assert appended.seq == 3
    assert await write_checkpoint(chain.pool, KEYS) is not None  # the service signs, through its function
    functions = await chain.admin.fetch(
        "SELECT p.proname, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner) AS owner, "
        "has_function_privilege($1, p.oid, 'EXECUTE') AS service, "
        "has_function_privilege($2, p.oid, 'EXECUTE') AS other "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'hub' AND p.proname IN ('audit_append', 'audit_checkpoint_append', 'audit_unchained') "
        "ORDER BY 1",
        service,
        store_role_names(chain.settings.db_prefix, "src_dwp")[1],  # any other role: PUBLIC's default is gone
    )
    owner = store_role_names(chain.settings.db_prefix, "hub")[0]
    assert [(f["proname"], f["prosecdef"], f["owner"], f["service"], f["other"]) for f in functions] == [
        (name, True, owner, True, False) for name in ("audit_append", "audit_checkpoint_append", "audit_unchained")
    ]
    assert all(f["proconfig"] == ["search_path=pg_catalog, pg_temp"] for f in functions)
    assert (await chain.verify())["ok"]


async def test_not_even_the_owner_can_insert_a_row_outside_the_chain(chain: Chain) -> None:
    await chain.write(1)
    with pytest.raises(asyncpg.CheckViolationError):
        await chain.admin.execute(
            "INSERT INTO hub.audit_event (request_id, caller_org, caller_org_type, caller_user_hash, decision) "
            "VALUES ($1, 'forger-org', 'council_hb', 'u', 'released')",
            uuid.uuid4(),
        )


async def test_a_row_forged_outside_the_chain_fails_verification_and_misleads_no_reader(
    chain: Chain, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.audit.events import AuditLog
    from hub.records.corrections import CorrectionStore

    await chain.write(3, subject_hashes=[FORGED], caller_org="northshire-hb")
    forged = await _forge_outside_the_chain(chain.admin)
    summary = await chain.verify()
    assert not summary["ok"]
    assert [(p["kind"], p.get("event_id")) for p in summary["problems"]] == [("unchained", forged)]
    assert f"row {forged} " in summary["first_problem"]["message"]
    assert "forger-org" not in json.dumps(summary)  # named by id and time, never by its content
    assert FORGED not in json.dumps(summary)
    assert summary["unchained_records"] == 0
    # The service's own verification (its role reads chained rows only) still sees and names it.
    async with chain.pool.acquire() as conn:
        theirs = await verify_database(conn, KEYS.public)
    assert [(p.kind, p.event_id) for p in theirs.problems] == [("unchained", forged)]
    # Readers that answer people and organisations do not take it as fact.
    now = dt.datetime.now(dt.UTC)
    access = await AuditLog(chain.pool, timeout=5).subject_access([FORGED], now=now)
    assert [e.caller_org for e in access] == ["northshire-hb"] * 3
    corrections = CorrectionStore(chain.pool, timeout=5)
    assert not await corrections.received("forger-org", [FORGED], "SocialCare.overnightCareRequired")
    assert await corrections.received("northshire-hb", [FORGED], "SocialCare.overnightCareRequired")
    # And the command says so.
    keys_file = tmp_path / "audit.json"
    KEYS.save(keys_file)
    _env(chain, str(keys_file), monkeypatch)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    assert f"FAILED: unchained: row {forged} " in capsys.readouterr().err


async def test_a_row_forged_into_the_chain_is_named(chain: Chain) -> None:
    await chain.write(3)
    # The superuser gives a row the next sequence number, with hashes it made up: not the function's.
    await chain.admin.execute(
        "INSERT INTO hub.audit_event (seq, prev_hash, record_hash, request_id, caller_org, caller_org_type, "
        "caller_user_hash, decision) VALUES (4, $1, $2, $3, 'forger-org', 'council_hb', 'u', 'released')",
        bytes(32),
        bytes(range(32)),
        uuid.uuid4(),
    )
    assert kinds(await chain.verify()) == [("altered", 4)]


async def test_only_the_documented_rows_from_before_the_chain_pass(chain: Chain) -> None:
    await chain.write(2)
    legacy = await _forge_outside_the_chain(chain.admin, caller_org="before-the-chain")
    # As 0019 lists the rows it found (each with a digest of its content): here by hand, triggers off.
    await chain.admin.execute("ALTER TABLE hub.audit_legacy DISABLE TRIGGER USER")
    try:
        await chain.admin.execute(
            "INSERT INTO hub.audit_legacy (event_id, digest) "
            "SELECT e.event_id, hub.audit_row_digest(e) FROM hub.audit_event e WHERE e.event_id = $1",
            legacy,
        )
        summary = await chain.verify()
        assert summary["ok"], summary
        assert (summary["unchained_records"], summary["records"]) == (1, 2)
        async with chain.tampering() as db, _unsequenced(db):  # changed after it was listed: not the one listed
            await db.execute("UPDATE hub.audit_event SET caller_org = 'someone-else' WHERE event_id = $1", legacy)
        summary = await chain.verify()
        assert [(p["kind"], p.get("event_id")) for p in summary["problems"]] == [("unchained", legacy)]
    finally:
        await chain.admin.execute("DELETE FROM hub.audit_legacy")
        await chain.admin.execute("ALTER TABLE hub.audit_legacy ENABLE TRIGGER USER")


# -- exports -------------------------------------------------------------------------------------------


async def _export(chain: Chain, since: dt.datetime, until: dt.datetime) -> list[str]:
    out = io.StringIO()
    await export(chain.admin, out, since=since, until=until, public_keys=KEYS.public)
    return out.getvalue().splitlines()


async def test_an_export_verifies_offline_and_shows_edits(chain: Chain) -> None:
    await chain.write(5)
    since = dt.datetime.now(dt.UTC)
    await chain.write(5)  # records 6..10: the period
    until = dt.datetime.now(dt.UTC)
    await chain.write(2)
    await write_checkpoint(chain.admin, KEYS)  # at record 12: the export runs on to it
    lines = await _export(chain, since, until)
    header = json.loads(lines[0])
    assert (header["first_seq"], header["last_seq_in_period"], header["through_seq"]) == (6, 10, 12)
    report, _ = verify_export(lines, KEYS.public)
    assert report.ok, report.summary()
    assert (report.first_seq, report.last_seq, report.last_checkpoint_seq) == (6, 12, 12)

    records = [i for i, line in enumerate(lines) if '"record"' in line]
    edited = list(lines)
    edited[records[2]] = edited[records[2]].replace('"released"', '"refused"')
    report, _ = verify_export(edited, KEYS.public)
    assert [(p.kind, p.seq) for p in report.problems][:1] == [("altered", 8)]
    dropped = [line for i, line in enumerate(lines) if i != records[1]]
    report, _ = verify_export(dropped, KEYS.public)
    assert [(p.kind, p.seq) for p in report.problems][:1] == [("missing", 7)]
    # Against keys the auditor trusts, a file re-signed by someone else fails.
    report, _ = verify_export(lines, AuditKeys.generate("chain-a1").public)
    assert {p.kind for p in report.problems} == {"forged_checkpoint"}


async def test_an_export_of_an_empty_period_is_valid_and_empty(chain: Chain) -> None:
    await chain.write(2)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    lines = await _export(chain, future, future + dt.timedelta(days=1))
    report, header = verify_export(lines, KEYS.public)
    assert report.ok
    assert report.records == 0
    assert header["first_seq"] == 0


# -- the command ---------------------------------------------------------------------------------------


def _env(chain: Chain, keys_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = chain.settings
    assert s.database_url is not None
    monkeypatch.setenv("DATABASE_URL", s.database_url)
    monkeypatch.setenv("WELFARE_HUB_DB_PREFIX", s.db_prefix)
    monkeypatch.setenv("WELFARE_HUB_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("WELFARE_HUB_AUDIT_KEYS", keys_file)
    if s.keys_path is not None:
        monkeypatch.setenv("WELFARE_HUB_KEYS", str(s.keys_path))


async def test_audit_verify_command_names_the_first_bad_record(
    chain: Chain, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_file = tmp_path / "audit.json"
    KEYS.save(keys_file)
    _env(chain, str(keys_file), monkeypatch)
    await chain.write(6)

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    assert await cli("audit", "checkpoint") == 0
    assert await cli("audit", "verify") == 0
    capsys.readouterr()
    assert await cli("audit", "keys") == 0
    published_doc = json.loads(capsys.readouterr().out)
    assert published_doc == KEYS.public_document()
    published = tmp_path / "published.json"
    published.write_text(json.dumps(published_doc))
    out = tmp_path / "export.jsonl"
    assert await cli("audit", "export", "--since", "2000-01-01", "--until", "2100-01-01", "--out", str(out)) == 0
    assert await cli("audit", "verify", "--file", str(out), "--public-keys", str(published)) == 0

    lines = out.read_text().splitlines()
    lines[3] = lines[3].replace('"northshire-hb"', '"someone-else"')  # record 3
    out.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert await cli("audit", "verify", "--file", str(out), "--public-keys", str(published)) == 1
    assert "FAILED: altered: record 3" in capsys.readouterr().err


# -- the service's own log -----------------------------------------------------------------------------


async def test_the_services_log_verifies_with_its_published_keys(
    client: httpx.AsyncClient, settings: Settings, admin: dict[str, asyncpg.Connection], token: Any
) -> None:
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM")
    query = "query($nino: String!) { person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }"
    for _ in range(3):
        assert (await gql(client, t, query, {"nino": P.BADGE_DLA})).status_code == 200
    published = (await client.get("/audit/keys")).json()
    assert published["algorithm"] == "Ed25519"
    assert settings.audit_keys_path is not None
    await write_checkpoint(admin["hub"], AuditKeys.load(settings.audit_keys_path))
    report = await verify_database(admin["hub"], load_public_document(published))
    assert report.ok, report.summary()
    assert report.records >= 3
    assert report.last_checkpoint_seq == report.last_seq


# -- anomalies -----------------------------------------------------------------------------------------


async def test_anomalies_name_volume_own_record_and_out_of_hours(chain: Chain) -> None:
    from hub.audit.events import AuditLog

    users = {f"user-{n}": 4 for n in range(1, 6)} | {"user-busy": 30}
    for user, n in users.items():
        await chain.write(n, caller_user_hash=user)
    await chain.write(1, caller_user_hash="user-2", decision="refused", reason_codes=["OWN_RECORD"], fields_released=[])
    await chain.write(3, caller_user_hash="elsewhere-1", caller_org="south-hb")  # alone in its organisation
    # Times as an attacker could not set them, but as the test needs: weekdays in office hours (UK time),
    # then three of user-3's late on a Tuesday evening and one of user-4's on a Saturday morning.
    tuesday_10 = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)  # GMT: UK time is UTC
    async with chain.tampering() as db:
        await db.execute(
            "UPDATE hub.audit_event SET occurred_at = $1::timestamptz + seq * interval '1 second'", tuesday_10
        )
        await db.execute(
            "UPDATE hub.audit_event SET occurred_at = $1 WHERE seq IN (SELECT seq FROM hub.audit_event "
            "WHERE caller_user_hash = 'user-3' ORDER BY seq LIMIT 3)",
            dt.datetime(2026, 3, 3, 23, 30, tzinfo=dt.UTC),
        )
        await db.execute(
            "UPDATE hub.audit_event SET occurred_at = $1 WHERE seq = (SELECT min(seq) FROM hub.audit_event "
            "WHERE caller_user_hash = 'user-4')",
            dt.datetime(2026, 3, 7, 11, 0, tzinfo=dt.UTC),
        )
    log = AuditLog(chain.pool, timeout=5)
    found = await log.anomalies(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    assert [(a.kind, a.caller_user_hash, a.count) for a in found] == [
        ("own_record", "user-2", 1),
        ("volume", "user-busy", 30),
        ("out_of_hours", "user-3", 3),
        ("out_of_hours", "user-4", 1),
    ]
    assert all(a.caller_org == "northshire-hb" for a in found)
    # Summer time: 07:30 UTC in July is 08:30 in London, inside office hours; 17:30 UTC is 18:30, outside.
    async with chain.tampering() as db:
        await db.execute(
            "UPDATE hub.audit_event SET occurred_at = $1 WHERE caller_user_hash <> 'user-5'",
            dt.datetime(2026, 7, 7, 7, 30, tzinfo=dt.UTC),
        )
        await db.execute(
            "UPDATE hub.audit_event SET occurred_at = $1 WHERE caller_user_hash = 'user-5'",
            dt.datetime(2026, 7, 7, 17, 30, tzinfo=dt.UTC),
        )
    summer = await log.anomalies(dt.datetime(2026, 7, 1, tzinfo=dt.UTC), dt.datetime(2026, 7, 10, tzinfo=dt.UTC))
    assert [(a.kind, a.caller_user_hash) for a in summer if a.kind == "out_of_hours"] == [("out_of_hours", "user-5")]


async def test_a_rotated_signing_key_signs_on_while_the_old_one_verifies(
    chain: Chain, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_file = tmp_path / "audit.json"
    KEYS.save(keys_file)
    _env(chain, str(keys_file), monkeypatch)
    await chain.write(3)
    assert await write_checkpoint(chain.admin, KEYS) is not None
    assert await asyncio.to_thread(main, ["audit", "rotate-key", "--key-id", "chain-a2"]) == 0
    assert await asyncio.to_thread(main, ["audit", "rotate-key", "--key-id", "chain-a2"]) == 2  # ids are not reused
    rotated = AuditKeys.load(keys_file)
    assert rotated.current == "chain-a2"
    await chain.write(2)
    signed = await write_checkpoint(chain.admin, rotated)
    assert signed is not None
    assert signed.key_id == "chain-a2"
    summary = await chain.verify(rotated)
    assert summary["ok"], summary
    assert summary["checkpoints"] == 2
    # Trusting only the new key, the old checkpoint is not taken on faith.
    only_new = {k: v for k, v in rotated.public.items() if k == "chain-a2"}
    report = await verify_database(chain.admin, only_new)
    assert [(p.kind, p.seq) for p in report.problems] == [("forged_checkpoint", 3)]
