"""Generated from the register: for every purpose and every field reachable from a query root, the field is
selected through the API by an organisation the purpose belongs to. It resolves exactly when every field
on its path is in the purpose's allow-list; otherwise the whole operation is refused and no source is read.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import httpx
import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type

from hub.config import Settings
from hub.execution.schema import build_schema, load_purposes
from tests import people as P
from tests.conftest import QueryCounter, codes, gql

SCHEMA = build_schema(Settings())
REGISTER = load_purposes(Settings(), SCHEMA)
SUBJECT = P.BADGE_DLA  # held by DWP, HB and social care
CONSENTING = P.EXTRA[5]  # the person whose consent the consent-based purpose relies on here
ROOTS = {
    "person": "person(nino: $n, purpose: {purpose})",
    "reviewQueue": "reviewQueue(purpose: {purpose}, first: 1)",
    "auditEvents": "auditEvents(purpose: {purpose}, first: 1)",
    "auditEvent": 'auditEvent(purpose: {purpose}, eventId: "1")',
    "auditVerification": "auditVerification(purpose: {purpose})",
    "auditAnomalies": "auditAnomalies(purpose: {purpose})",
    "subjectAccessReport": "subjectAccessReport(purpose: {purpose}, nino: $n)",
    "notification": 'notification(purpose: {purpose}, notificationId: "00000000-0000-4000-8000-000000000000")',
    "entitlementChanges": "entitlementChanges(purpose: {purpose}, first: 1)",
    "correctionsToReview": "correctionsToReview(purpose: {purpose}, first: 1)",
    "complaints": "complaints(purpose: {purpose}, first: 1)",
}
REFUSALS = {"PURPOSE_FORBIDS_FIELD", "PURPOSE_NOT_GRANTED", "CONSENT_REQUIRED", "UNKNOWN_PURPOSE"}


def _paths(schema: GraphQLSchema) -> dict[str, list[tuple[str, str]]]:
    """Every field coordinate reachable from the query roots, with the shortest path of (type, field)."""
    query = schema.query_type
    assert query is not None
    paths: dict[str, list[tuple[str, str]]] = {}
    todo: deque[tuple[GraphQLObjectType, list[tuple[str, str]]]] = deque()
    for root in ROOTS:
        paths[f"Query.{root}"] = [("Query", root)]
        target = get_named_type(query.fields[root].type)
        if isinstance(target, GraphQLObjectType):
            todo.append((target, [("Query", root)]))
    while todo:
        gtype, path = todo.popleft()
        for name, field in gtype.fields.items():
            coordinate = f"{gtype.name}.{name}"
            if coordinate in paths:
                continue
            paths[coordinate] = [*path, (gtype.name, name)]
            inner = get_named_type(field.type)
            if isinstance(inner, GraphQLObjectType):
                todo.append((inner, paths[coordinate]))
    return paths


PATHS = _paths(SCHEMA._schema)


def _document(purpose: str, path: list[tuple[str, str]]) -> str:
    core = SCHEMA._schema
    (_, root), *rest = path
    selection = ""
    for type_name, field in reversed(rest):
        gtype = core.type_map[type_name]
        assert isinstance(gtype, GraphQLObjectType)
        inner = gtype.fields[field].type
        while isinstance(inner, GraphQLNonNull | GraphQLList):
            inner = inner.of_type
        selection = f"{field} {{ {selection or '__typename'} }}" if isinstance(inner, GraphQLObjectType) else field
    head = ROOTS[root].format(purpose=purpose)
    variables = "($n: String!)" if "$n" in head else ""
    return f"query{variables} {{ {head} {{ {selection or '__typename'} }} }}"


CASES = [(purpose, coordinate) for purpose in REGISTER.purposes for coordinate in sorted(PATHS)]


@pytest.fixture(scope="module")
async def consented(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_welfare_rights", "INCOME_MAXIMISATION", org="matrix")
    q = "mutation($n: String!) { recordConsent(purpose: INCOME_MAXIMISATION, nino: $n, notifyOnShare: false) { status } }"
    body = (await gql(client, t, q, {"n": CONSENTING})).json()
    assert body["data"]["recordConsent"]["status"] == "LIVE", body


def test_the_matrix_reaches_every_field_of_the_query_roots() -> None:
    assert len(PATHS) > 60
    granted = {c for spec in REGISTER.purposes.values() for c in spec.fields if c.startswith(("Query.", "Person."))}
    assert granted <= set(PATHS)


@pytest.mark.parametrize(("purpose", "coordinate"), CASES, ids=[f"{p}-{c}" for p, c in CASES])
async def test_a_field_resolves_exactly_when_the_register_allows_it(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter, consented: None, purpose: str, coordinate: str
) -> None:
    spec = REGISTER.purposes[purpose]
    path = PATHS[coordinate]
    # A type that may send any operation: a partner's (registered operations only) is tested on its own.
    org_type = sorted(spec.org_types - REGISTER.persisted_only)[0]
    document = _document(purpose, path)
    subject = CONSENTING if spec.consent_required else SUBJECT
    queries.reset()
    response = await gql(client, token(org_type, purpose, org="matrix"), document, {"n": subject})
    assert response.status_code == 200
    body = response.json()
    allowed = all(f"{t}.{f}" in spec.fields for t, f in path)
    if allowed:
        assert not REFUSALS & set(codes(body)), (document, body)
        assert body["data"] is not None
    else:
        assert codes(body) == ["PURPOSE_FORBIDS_FIELD"], (document, body)
        assert "data" not in body  # refused before execution: a request error
        assert queries.total == 0, "refused before any source is read"
