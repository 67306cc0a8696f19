"""Migration 0022 on holds written before it: a NINO in a hold reason is redacted, the rest of the hold
is untouched, and afterwards a hold may still only be lifted."""

from __future__ import annotations

import asyncpg
import pytest

from hub.ops.migrate import migrations_for
from tests.hub.records.test_migration_0020 import before as before  # the fixture, reused

MINE = "0022"


@pytest.fixture
async def before_0022(before: asyncpg.Connection) -> asyncpg.Connection:
    for migration in migrations_for("hub"):
        if "0020" <= migration.version < MINE:
            await before.execute(migration.sql)
    return before


async def test_a_nino_in_a_hold_reason_is_redacted(before_0022: asyncpg.Connection) -> None:
    conn = before_0022
    await conn.execute(
        "INSERT INTO hub.audit_hold (seq, reason, placed_by_hash) VALUES "
        "(1, 'neighbour of jk 10 20 30 a, see case 2026-17', 'auditor-1'), (2, 'a clean reason', 'auditor-1')"
    )
    (sql,) = [m.sql for m in migrations_for("hub") if m.version.startswith(MINE)]
    await conn.execute(sql)
    reasons = [r["reason"] for r in await conn.fetch("SELECT reason FROM hub.audit_hold ORDER BY seq")]
    assert reasons == ["neighbour of [redacted], see case 2026-17", "a clean reason"]
    with pytest.raises(asyncpg.PostgresError):
        await conn.execute("UPDATE hub.audit_hold SET reason = 'rewritten' WHERE seq = 2")
