"""The document check on its own (pure: a schema and a document, no store): the refusals a hub's document
can meet before anything is read."""

from __future__ import annotations

import pytest

from subgraphs.guard import Limits, Refused, check_document
from subgraphs.schema import build_schema

SCHEMA = build_schema("dwp")._schema
BADGE = frozenset({"DwpPerson.blueBadgeAutomaticEligibility"})
ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) { ... on DwpPerson { blueBadgeAutomaticEligibility } } }"
)


def _deep_fragments(n: int) -> str:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n))
    return "{ ...F0 } " + chain + f" fragment F{n} on Query {{ __typename }}"


CASES = [
    pytest.param(
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", "GRAPHQL_VALIDATION_FAILED", id="cycle"
    ),
    pytest.param("{ ...Missing }", "GRAPHQL_VALIDATION_FAILED", id="unknown-fragment"),
    pytest.param("query A { __typename } query B { __typename }", "OPERATION_NOT_SUPPORTED", id="two-operations"),
    pytest.param("mutation { x }", "OPERATION_NOT_SUPPORTED", id="mutation"),
    pytest.param("subscription { x }", "OPERATION_NOT_SUPPORTED", id="subscription"),
    pytest.param("{ a: _service { sdl } b: _service { sdl } }", "OPERATION_NOT_SUPPORTED", id="two-roots"),
    pytest.param("{ _entities { __typename } }", "GRAPHQL_VALIDATION_FAILED", id="no-representations"),
    pytest.param("{ ", "GRAPHQL_PARSE_FAILED", id="parse"),
    pytest.param(_deep_fragments(1200), "QUERY_TOO_COMPLEX", id="past-the-stack"),
    pytest.param('{ __type(name: "DwpPerson") { name } }', "INTROSPECTION_DISABLED", id="type"),
]


@pytest.mark.parametrize(("query", "code"), CASES)
def test_refused(query: str, code: str) -> None:
    with pytest.raises(Refused) as refused:
        check_document(SCHEMA, query, {"r": []}, allowed=BADGE, limits=Limits(max_fragments=5000))
    assert refused.value.code == code


def test_the_selection_and_representations() -> None:
    reps = [{"__typename": "DwpPerson", "nino": "JK102030A"}]
    checked = check_document(SCHEMA, ENTITIES, {"r": reps}, allowed=BADGE)
    assert checked.coordinates == BADGE
    assert checked.root == "_entities"
    assert checked.representations == tuple(reps)


def test_too_many_representations() -> None:
    with pytest.raises(Refused) as refused:
        check_document(SCHEMA, ENTITIES, {"r": [{}] * 11}, allowed=BADGE, limits=Limits(max_representations=10))
    assert refused.value.code == "QUERY_TOO_COMPLEX"
