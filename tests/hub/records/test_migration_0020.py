"""Migration 0020 on rows written before it, on a scratch database of the test server: consent becomes the
recorder's own, each complaint gets its parties (with the status it had), corrections keep their owner
unknown until the hub reads it, and NINO-shaped free text already stored is redacted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.config import Settings
from hub.ops.migrate import migrations_for

MINE = "0020"


@pytest.fixture
async def before(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A database with every hub migration before this one applied (as the administrator)."""
    assert settings.database_url is not None
    name = f"m0020_{uuid.uuid4().hex[:10]}"
    server = await asyncpg.connect(settings.database_url)
    await server.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(settings.database_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        for migration in migrations_for("hub"):
            if migration.version >= MINE:
                break
            await conn.execute(migration.sql)
        yield conn
    finally:
        await conn.close()
        await server.execute(f'DROP DATABASE "{name}"')
        await server.close()


def _mine() -> str:
    (sql,) = [m.sql for m in migrations_for("hub") if m.version.startswith(MINE)]
    return sql


async def test_existing_rows_are_migrated_sensibly(before: asyncpg.Connection) -> None:
    conn = before
    await conn.execute(
        "INSERT INTO hub.consent (subject_hash, purpose, expires_at, notify_on_share, recorded_by_org, "
        "recorded_by_hash) VALUES ('s1', 'INCOME_MAXIMISATION', now() + interval '1 year', false, 'adviser-a', 'u')"
    )
    for seq, org in ((1, "badge-a"), (2, "badge-b")):
        await conn.execute(
            "INSERT INTO hub.audit_event (request_id, caller_org, caller_org_type, caller_user_hash, decision, seq, "
            "prev_hash, record_hash) VALUES ($1, $2, 'council_blue_badge', 'u', 'released', $3, "
            "decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'))",
            uuid.uuid4(),
            org,
            seq,
        )
    closed = await conn.fetchval(
        "INSERT INTO hub.complaint (raised_by_org, raised_by_hash, summary, event_seqs, organisations, status) "
        "VALUES ('dpo', 'u', 'About jk 10 20 30 a and AB-12-34-56', '{1,2}', '{badge-a,badge-b,dpo}', 'resolved') "
        "RETURNING complaint_id"
    )
    await conn.execute(
        "INSERT INTO hub.complaint_response (complaint_id, org, user_hash, status, note) "
        "VALUES ($1, 'badge-a', 'u', 'resolved', 'Person JK102030A told.')",
        closed,
    )
    await conn.execute(
        "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, source_record_ids, "
        "subject_hashes, evidence) VALUES ('badge-a', 'u', 'HousingBenefitClaim.weeklyRent', 'hb', '{HB1}', '{}', "
        "'Tenancy of JK 10 20 30 A shows 92.00 from 2026-04-01')"
    )
    await conn.execute(
        "INSERT INTO hub.notification (notification_id, sender_org, sender_org_type, sender_user_hash, "
        "idempotency_key, request_hash, kind, effective_date, status) VALUES "
        "($1, 'care', 'council_social_care', 'u', 'care-JK102030A-1', 'h', 'hospital_admission', '2026-01-01', "
        "'review'), ($2, 'care', 'council_social_care', 'u', $3, 'h', 'hospital_admission', '2026-01-01', 'review')",
        uuid.uuid4(),
        uuid.uuid4(),
        f"test-{uuid.UUID(int=0xAB123456 << 96)}",
    )

    await conn.execute(_mine())

    consent = await conn.fetchrow("SELECT recipient_org, recorded_by_org FROM hub.consent")
    assert dict(consent) == {"recipient_org": "adviser-a", "recorded_by_org": "adviser-a"}
    parts = await conn.fetch("SELECT org, status FROM hub.complaint_party WHERE complaint_id = $1 ORDER BY org", closed)
    assert [tuple(p) for p in parts] == [("badge-a", "resolved"), ("badge-b", "resolved")]  # the raiser has none
    assert await conn.fetchval("SELECT summary FROM hub.complaint") == "About [redacted] and [redacted]"
    assert await conn.fetchval("SELECT note FROM hub.complaint_response") == "Person [redacted] told."
    row = await conn.fetchrow("SELECT evidence, owner_council FROM hub.correction")
    assert (row["evidence"], row["owner_council"]) == ("Tenancy of [redacted] shows 92.00 from 2026-04-01", None)
    keys = [r["idempotency_key"] for r in await conn.fetch("SELECT idempotency_key FROM hub.notification")]
    assert not any("JK102030A" in k for k in keys)
    assert f"test-{uuid.UUID(int=0xAB123456 << 96)}" in keys  # a UUID key, however it looks, is kept
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, owner_council, "
            "source_record_ids, subject_hashes, evidence) VALUES ('x', 'u', 'DwpRecord.x', 'dwp', 'E1', '{}', '{}', "
            "'e')"
        )
