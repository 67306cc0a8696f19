"""Production mode: no introspection or field suggestions for non-admin callers, no GraphiQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub.config import Settings
from tests.conftest import codes, gql, running_client

INTROSPECT = "{ __schema { queryType { name } } }"
TYPO = 'query { person(nino: "JK102030A", purpose: BLUE_BADGE) { subjectI } }'


async def test_production_hides_the_schema(settings: Settings, people: Any, token: Any) -> None:
    async with running_client(replace(settings, production=True)) as client:
        user = token("council_blue_badge", "BLUE_BADGE")
        assert codes((await gql(client, user, INTROSPECT)).json()) == ["INTROSPECTION_DISABLED"]
        admin = token("council_blue_badge", "BLUE_BADGE", role="admin")
        assert (await gql(client, admin, INTROSPECT)).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        typo = (await gql(client, user, TYPO)).json()
        assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Did you mean" not in typo["errors"][0]["message"]
        ide = await client.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 401


async def test_development_offers_introspection_and_graphiql(settings: Settings, people: Any, token: Any) -> None:
    async with running_client(settings) as client:
        user = token("council_blue_badge", "BLUE_BADGE")
        assert (await gql(client, user, INTROSPECT)).json()["data"]["__schema"]["queryType"]["name"] == "Query"
        assert "Did you mean" in (await gql(client, user, TYPO)).json()["errors"][0]["message"]
        ide = await client.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 200
        assert "graphiql" in ide.text.lower()


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
