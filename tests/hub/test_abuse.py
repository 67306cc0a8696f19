"""Attacks on the running app that cost the hub CPU rather than data: documents built to explode when their
fragments are expanded, and callers the register does not admit. Each is answered at once, with a stable
code, and nothing is read from any source."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import QueryCounter, codes, gql
from tests.hub.execution.test_cost import fan_out
from tests.receipts import without_receipt


async def test_fragment_fan_out_is_refused_before_validation(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter
) -> None:
    # ~1 KB: 25 fragments each spreading the next three times (3**25 fields once expanded).
    bomb = fan_out(25, 3)
    assert len(bomb) < 1200
    queries.reset()
    started = time.monotonic()
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), bomb)).json()
    assert time.monotonic() - started < 2
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert body["errors"][0]["extensions"]["limit"] == "fields"
    assert queries.total == 0


async def test_depth_and_aliases_hidden_in_fragments_are_counted(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    aliases = "query A { ...F ...F } fragment F on Query { " + " ".join(f"a{i}: __typename" for i in range(10)) + " }"
    body = (await gql(client, t, aliases)).json()
    assert [e["extensions"].get("limit") for e in body["errors"]] == ["aliases"]
    cycle = "query C { ...X } fragment X on Query { ...Y } fragment Y on Query { __typename ...X }"
    body = (await gql(client, t, cycle)).json()
    assert [e["extensions"].get("limit") for e in body["errors"]] == ["fragment_cycle"]


async def test_an_unregistered_organisation_is_refused_before_its_document_is_read(
    client: httpx.AsyncClient, token: Any, issuer: Any, settings: Any
) -> None:
    from tests.conftest import AUDIENCE, ISSUER

    stranger = issuer.mint(
        issuer=ISSUER,
        audience=AUDIENCE,
        org="not-registered",
        org_type="council_blue_badge",
        user="u",
        purposes=["BLUE_BADGE"],
    )
    for document in (fan_out(25, 3), "{ person(", "{ __typename }"):
        body = (await gql(client, stranger, document)).json()
        assert codes(body) == ["UNKNOWN_ORGANISATION"], document
        assert body.get("data") is None


async def test_several_operations_without_a_name_are_refused_not_guessed(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    document = "query A { __typename } query B { __typename }"
    body = (await gql(client, t, document)).json()
    assert codes(body) == ["OPERATION_NOT_SUPPORTED"]
    assert body.get("data") is None
    named = (await gql(client, t, document, operationName="B")).json()
    assert without_receipt(named) == {"data": {"__typename": "Query"}}
