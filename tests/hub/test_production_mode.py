"""Production mode: no introspection or field suggestions for non-admin callers. GraphiQL in either mode is the
hub's own (hub.graphiql: nothing from a CDN, docs from the purpose's contract, not introspection)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import httpx

from hub.config import Settings
from tests.conftest import codes, gql, running_client
from tests.receipts import without_receipt

INTROSPECT = "{ __schema { queryType { name } } }"
TYPO = 'query { person(nino: "JK102030A", purpose: BLUE_BADGE) { subjectI } }'


async def test_production_hides_the_schema(settings: Settings, people: Any, token: Any) -> None:
    async with running_client(replace(settings, production=True)) as client:
        user = token("council_blue_badge", "BLUE_BADGE")
        assert codes((await gql(client, user, INTROSPECT)).json()) == ["INTROSPECTION_DISABLED"]
        admin = token("council_blue_badge", "BLUE_BADGE", role="admin")
        introspected = without_receipt((await gql(client, admin, INTROSPECT)).json())
        assert introspected == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        typo = (await gql(client, user, TYPO)).json()
        assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Did you mean" not in typo["errors"][0]["message"]
        await assert_browsers_are_sent_to_the_hub_s_graphiql(client)


async def test_development_offers_introspection_and_graphiql(settings: Settings, people: Any, token: Any) -> None:
    async with running_client(settings) as client:
        user = token("council_blue_badge", "BLUE_BADGE")
        assert (await gql(client, user, INTROSPECT)).json()["data"]["__schema"]["queryType"]["name"] == "Query"
        assert "Did you mean" in (await gql(client, user, TYPO)).json()["errors"][0]["message"]
        await assert_browsers_are_sent_to_the_hub_s_graphiql(client)


async def assert_browsers_are_sent_to_the_hub_s_graphiql(client: httpx.AsyncClient) -> None:
    """A browser opening /graphql is sent to /graphiql, whose page runs the hub's own script alone; nothing
    else gets through without a token: a GET with a query (405 after the token), the contract (401)."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    opened = await client.get("/graphql", headers=browser)
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/graphiql"
    page = await client.get("/graphiql", headers=browser)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "cdn" not in page.text.lower()
    assert "introspection" not in page.text.lower()
    for path in ("/graphql?query={__typename}", "/graphql/contract?purpose=BLUE_BADGE"):
        assert (await client.get(path, headers=browser)).status_code == 401


async def test_production_suggests_nothing(settings: Settings, people: Any, token: Any) -> None:
    async with running_client(replace(settings, production=True)) as client:
        user = token("council_blue_badge", "BLUE_BADGE")
        for query in [
            "query($x: Persn) { __typename }",
            '{ person(nino: "JK102030A", purpos: BLUE_BADGE) { subjectId } }',
            '{ person(nino: "JK102030A", purpose: BLUE_BADG) { subjectId } }',
        ]:
            body = (await gql(client, user, query)).json()
            assert body["errors"]
            assert all("Did you mean" not in e["message"] for e in body["errors"]), body


def test_production_logs_are_json_lines() -> None:
    # A fresh interpreter, as the service starts: one JSON object a line, an exception by its type only.
    code = (
        "import logging\n"
        "from hub.cli import configure_logging\n"
        "configure_logging(json_lines=True)\n"
        "log = logging.getLogger('welfare_hub.test')\n"
        "log.warning('source %s unavailable', 'hb')\n"
        "try:\n    raise ValueError('JK102030A was not found')\n"
        "except ValueError:\n    log.exception('lookup failed')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("WARNING", "welfare_hub.test", "source hb unavailable"),
        ("ERROR", "welfare_hub.test", "lookup failed"),
    ]
    assert lines[1]["exception"] == "ValueError"
    assert "JK102030A" not in done.stderr  # the exception's message (it may quote data) is not logged
    assert all(set(e) >= {"time", "level", "logger", "message"} for e in lines)
