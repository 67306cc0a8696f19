"""The subgraph's own access log: written before the answer (no row, no answer), keyed NINO hashes only,
and the owner's question "who asked about this person, for what, under which hub audit record"."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from hub.config import Settings
from resolvers.sources.assertion import AssertionSigner
from tests.people import ALL, BADGE_DLA
from tests.subgraphs.conftest import (
    SECRET,
    Running,
    ask,
    call,
    entities_document,
    reader_url,
    start_subgraph,
    subgraph_env,
)

SELECTION = {"DwpPerson": frozenset({"nino", "recordId", "blueBadgeAutomaticEligibility"})}
DOCUMENT = entities_document("DwpPerson", "nino recordId blueBadgeAutomaticEligibility")
VARIABLES = {"r": [{"__typename": "DwpPerson", "nino": BADGE_DLA}, {"__typename": "DwpPerson", "recordId": "2"}]}


def keyed(nino: str) -> str:
    return "nino:" + hmac.new(SECRET.encode(), nino.encode(), hashlib.sha256).hexdigest()


async def test_the_question_is_logged_with_keyed_subjects(
    subgraphs: dict[str, Running], signer: AssertionSigner, store_conns: dict[str, asyncpg.Connection]
) -> None:
    the_ask = ask(SELECTION, purpose="BLUE_BADGE")
    answer = await call(signer, subgraphs["dwp"], DOCUMENT, VARIABLES, the_ask)
    assert answer.status == 200
    assert answer.body["data"]["_entities"][0]["blueBadgeAutomaticEligibility"] is True
    row = await store_conns["dwp"].fetchrow("SELECT * FROM dwp.hub_access_log WHERE jti = $1", answer.jti)
    assert row is not None
    assert row["audit_id"] == the_ask.audit_id
    assert (row["org"], row["org_type"], row["purpose"], row["legal_basis"]) == (
        the_ask.org,
        the_ask.org_type,
        "BLUE_BADGE",
        the_ask.legal_basis,
    )
    assert row["fields"] == ["DwpPerson.blueBadgeAutomaticEligibility", "DwpPerson.nino", "DwpPerson.recordId"]
    assert row["subjects"] == [keyed(BADGE_DLA), "id:2"]
    assert row["outcome"] == "answered"
    # No NINO in clear anywhere in the log, whatever was asked.
    everything = await store_conns["dwp"].fetch("SELECT row_to_json(l)::text AS t FROM dwp.hub_access_log l")
    text = " ".join(r["t"] for r in everything)
    assert not [n for n in ALL if n in text]


async def test_no_answer_without_the_log_row(
    stores: Settings, jwks_file: Path, signer: AssertionSigner, tmp_path: Path
) -> None:
    # The store's read-only role cannot write the access log: the subgraph answers no data at all.
    env = subgraph_env(stores, "dwp", jwks_file, url=reader_url(stores, "src_dwp"))
    running = start_subgraph("dwp", env, tmp_path / "dwp-readonly.log")
    try:
        answer = await call(signer, running, DOCUMENT, VARIABLES, ask(SELECTION, purpose="BLUE_BADGE"))
    finally:
        running.process.terminate()
        running.process.wait(10)
    assert answer.status == 503
    assert answer.codes == ["ACCESS_LOG_UNAVAILABLE"]
    assert answer.body["data"] is None
    names = [s["name"] for s in answer.spans]
    assert "fetch" not in names
    assert not [n for n in names if n.startswith("SELECT")]
    assert not [n for n in ALL if n in running.logs()]


def _cli(stores: Settings, jwks: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **subgraph_env(stores, "dwp", jwks)}
    return subprocess.run(
        [sys.executable, "-m", "hub", "subgraph", "dwp", "access-log", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_who_asked_about_a_person(
    subgraphs: dict[str, Running], stores: Settings, jwks_file: Path, signer: AssertionSigner
) -> None:
    the_ask = ask(SELECTION, purpose="BLUE_BADGE")
    answer = await call(signer, subgraphs["dwp"], DOCUMENT, VARIABLES, the_ask)
    assert answer.status == 200
    by_nino = _cli(stores, jwks_file, "--nino", BADGE_DLA.lower())
    assert by_nino.returncode == 0, by_nino.stderr
    entries = [json.loads(line) for line in by_nino.stdout.splitlines()]
    mine = [e for e in entries if e["auditId"] == str(the_ask.audit_id)]
    assert mine == [
        {
            "receivedAt": mine[0]["receivedAt"],
            "auditId": str(the_ask.audit_id),
            "org": the_ask.org,
            "orgType": the_ask.org_type,
            "purpose": "BLUE_BADGE",
            "legalBasis": the_ask.legal_basis,
            "fields": ["DwpPerson.blueBadgeAutomaticEligibility", "DwpPerson.nino", "DwpPerson.recordId"],
            "outcome": "answered",
            "reason": None,
        }
    ]
    by_audit = _cli(stores, jwks_file, "--audit-id", str(the_ask.audit_id))
    assert [json.loads(line) for line in by_audit.stdout.splitlines()] == mine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--nino", "not-a-nino"], "--nino:", id="bad-nino"),
        pytest.param(["--audit-id", "seven"], "--audit-id", id="bad-audit-id"),
        pytest.param([], "--nino", id="neither"),
    ],
)
def test_the_access_log_command_says_what_is_wrong(
    stores: Settings, jwks_file: Path, args: list[str], message: str
) -> None:
    done = _cli(stores, jwks_file, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "not-a-nino" not in done.stderr
