"""Registered operations: a partner organisation (an ALMO, a voluntary agency: the register's
``[operations] required_for``) runs only the operations registered for it, refused before anything is
parsed or read, and audited; any organisation may send a registered operation by hash alone (automatic
persisted queries), and a hash that does not match its document is refused. Registered with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub.config import Settings
from hub.records.operations import add_operations, operation_hash
from tests import people as P
from tests.conftest import QueryCounter, codes, gql
from tests.hub.test_scale_out import hub_env

NOTICE = "query Notice { privacyNotice { controller } }"
LOOKUP = "query Advice($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) { subjectId } }"


async def _post(client: httpx.AsyncClient, token: str, body: dict[str, Any], accept: str = "application/json") -> Any:
    r = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}", "Accept": accept})
    return r


def _apq(document: str | None, sha: str) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    if document is not None:
        body["query"] = document
    return body


async def test_a_partner_runs_only_its_registered_operations_and_is_refused_before_any_read(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], queries: QueryCounter
) -> None:
    agency = token("voluntary_agency", "INCOME_MAXIMISATION", org="safelist-agency")
    queries.reset()
    refused = await gql(client, agency, LOOKUP, {"n": P.PIP_LOW})
    assert refused.status_code == 200
    assert codes(refused.json()) == ["OPERATION_NOT_REGISTERED"]
    assert "data" not in refused.json()
    assert queries.total == 0  # nothing parsed, nothing read
    row = await admin["hub"].fetchrow(
        "SELECT decision, reason_codes, caller_org_type FROM hub.audit_event WHERE caller_org = 'safelist-agency' "
        "ORDER BY seq DESC LIMIT 1"
    )
    assert (row["decision"], list(row["reason_codes"]), row["caller_org_type"]) == (
        "refused",
        ["OPERATION_NOT_REGISTERED"],
        "voluntary_agency",
    )
    # The specification's media type: a 400, as any request error.
    modern = await _post(client, agency, {"query": NOTICE}, accept="application/graphql-response+json")
    assert modern.status_code == 400
    assert codes(modern.json()) == ["OPERATION_NOT_REGISTERED"]
    # Its hash alone, not registered: refused the same (a partner may not register by sending the text).
    assert codes((await _post(client, agency, _apq(None, operation_hash(NOTICE)))).json()) == [
        "OPERATION_NOT_REGISTERED"
    ]

    await add_operations(admin["hub"], "safelist-agency", [(NOTICE, "Notice"), (LOOKUP, "Advice")])
    by_text = (await gql(client, agency, NOTICE)).json()
    assert "errors" not in by_text, by_text
    assert by_text["data"]["privacyNotice"]["controller"]
    by_hash = (await _post(client, agency, _apq(None, operation_hash(NOTICE)))).json()
    assert by_hash["data"] == by_text["data"]
    # Registered, the operation goes on to every other check (no consent recorded for this person).
    assert codes((await gql(client, agency, LOOKUP, {"n": P.PIP_LOW})).json()) == ["CONSENT_REQUIRED"]
    # One character more is another operation.
    assert codes((await gql(client, agency, NOTICE + " ")).json()) == ["OPERATION_NOT_REGISTERED"]
    # Another partner's registration is not this one's.
    other = token("voluntary_agency", "INCOME_MAXIMISATION", org="safelist-agency-2")
    assert codes((await gql(client, other, NOTICE)).json()) == ["OPERATION_NOT_REGISTERED"]


async def test_a_council_runs_any_operation_and_registered_ones_by_hash(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    council = token("council_blue_badge", "BLUE_BADGE", org="safelist-council")
    assert "errors" not in (await gql(client, council, NOTICE)).json()  # not registered: councils may
    unknown = await _post(client, council, _apq(None, operation_hash(NOTICE)))
    assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]  # APQ: the client then sends the text
    await add_operations(admin["hub"], "safelist-council", [(NOTICE, "Notice")])
    assert "errors" not in (await _post(client, council, _apq(None, operation_hash(NOTICE)))).json()
    assert "errors" not in (await _post(client, council, _apq(NOTICE, operation_hash(NOTICE)))).json()
    mismatch = await _post(client, council, _apq(NOTICE, operation_hash(NOTICE + "#")))
    assert codes(mismatch.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    for bad in ("ABC", "0" * 63, 7):
        body = {"query": NOTICE, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": bad}}}
        assert codes((await _post(client, council, body)).json()) == ["BAD_USER_INPUT"], bad


def test_operations_are_registered_listed_and_removed_with_the_cli(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, **hub_env(settings)}
    good = tmp_path / "notice.graphql"
    good.write_text(NOTICE)
    bad = tmp_path / "bad.graphql"
    bad.write_text("query { person(nino: 1) { noSuchField } }")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hub", "operations", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    refused = cli("add", "--org", "cli-agency", str(good), str(bad))
    assert refused.returncode != 0
    assert "bad.graphql" in refused.stderr
    assert "Cannot query field 'noSuchField'" in refused.stderr
    assert "0 operations registered" in cli("list", "--org", "cli-agency").stdout  # nothing written
    added = cli("add", "--org", "cli-agency", str(good))
    assert added.returncode == 0, added.stderr
    sha = operation_hash(NOTICE)
    assert f"{sha}  Notice" in added.stdout
    listed = cli("list", "--org", "cli-agency").stdout
    assert f"{sha}  Notice" in listed
    assert "1 operations registered for cli-agency" in listed
    assert cli("remove", "--org", "cli-agency", sha).returncode == 0
    assert "0 operations registered" in cli("list", "--org", "cli-agency").stdout
    again = cli("remove", "--org", "cli-agency", sha)
    assert again.returncode != 0
    assert "no operation" in again.stderr
    assert json.dumps(NOTICE) not in listed  # the list names operations; it does not dump documents
