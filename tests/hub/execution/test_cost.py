"""The document cost pass: linear in the document however its fragments spread, and counting depth as
strawberry's own limiter does (a differential check), so no query that was accepted before is refused now."""

from __future__ import annotations

import time

import pytest
from graphql import parse
from strawberry.extensions import QueryDepthLimiter

from hub.config import Settings
from hub.execution.cost import Cost, Limits, document_cost, over_limits
from hub.execution.schema import build_schema

SCHEMA = build_schema(Settings())


def fan_out(levels: int, spreads: int, leaf: str = "__typename") -> str:
    """``levels`` fragments, each spreading the next ``spreads`` times: spreads**levels fields expanded."""
    lines = ["query Bomb { ...F0 }"]
    for i in range(levels):
        lines.append(f"fragment F{i} on Query {{ {' '.join([f'...F{i + 1}'] * spreads)} }}")
    lines.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "\n".join(lines)


def test_fan_out_is_counted_exactly_without_expanding_it() -> None:
    document = parse(fan_out(40, 3))
    started = time.process_time()
    cost = document_cost(document)["Bomb"]
    assert time.process_time() - started < 0.05  # 3**40 visits would never finish
    assert cost == Cost(depth=0, aliases=0, fields=3**40)


def test_aliases_and_depth_through_fragments() -> None:
    document = parse(
        """query Q { ...A a: person(purpose: BLUE_BADGE) { ...B } }
           fragment A on Query { x: __typename y: __typename }
           fragment B on Person { subjectId dwp { name { givenName } } }"""
    )
    # root: A's two aliased fields + the aliased person; below person: B's fields at levels 1 to 3
    assert document_cost(document)["Q"] == Cost(depth=3, aliases=3, fields=3 + 4)


def test_introspection_depth_is_not_counted_but_its_fields_are() -> None:
    document = parse("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }")
    cost = document_cost(document)[None]
    assert cost.depth == 0
    assert cost.fields == 7


@pytest.mark.parametrize(
    "text",
    [
        "query { ...A } fragment A on Query { ...A }",
        "query { ...A } fragment A on Query { ...B } fragment B on Query { __typename ...A }",
        "query { __typename } fragment A on Query { ...B } fragment B on Query { ...A }",  # not even spread
    ],
    ids=["self", "through another", "unused"],
)
def test_fragment_cycles_are_refused_before_validation(text: str) -> None:
    errors = over_limits(parse(text), Limits(max_depth=8, max_aliases=15, max_fields=1000))
    assert [e.extensions["limit"] for e in errors if e.extensions] == ["fragment_cycle"]


@pytest.mark.parametrize(
    ("limits", "breached"),
    [
        (Limits(max_depth=2, max_aliases=15, max_fields=1000), ["depth"]),
        (Limits(max_depth=8, max_aliases=2, max_fields=1000), ["aliases"]),
        (Limits(max_depth=8, max_aliases=15, max_fields=6), ["fields"]),
        (Limits(max_depth=3, max_aliases=3, max_fields=7), []),
    ],
)
def test_each_limit_is_its_own_error(limits: Limits, breached: list[str]) -> None:
    document = parse(
        """query Q { ...A a: person(purpose: BLUE_BADGE) { ...B } }
           fragment A on Query { x: __typename y: __typename }
           fragment B on Person { subjectId dwp { name { givenName } } }"""
    )
    errors = over_limits(document, limits)
    assert [e.extensions["limit"] for e in errors if e.extensions] == breached
    assert all(e.extensions and e.extensions["code"] == "GRAPHQL_VALIDATION_FAILED" for e in errors)


DOCUMENTS = [
    "{ __typename }",
    "query { person(purpose: BLUE_BADGE) { subjectId dwp { name { givenName familyName } } } }",
    "query { person(purpose: BLUE_BADGE) { dwp { awardsInPayment { benefit } heldAddress { postcode } } } }",
    "query { ...F } fragment F on Query { person(purpose: AUDIT) { ... on Person { dwp { name { givenName } } } } }",
    "query { person(purpose: AUDIT) { ...P } } fragment P on Person { dwp { ...D } } fragment D on DwpRecord { name { givenName } }",
    "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }",
    "{ __schema { types { name } } person(purpose: AUDIT) { __typename dwp { __typename } } }",
]


@pytest.mark.parametrize("text", DOCUMENTS)
@pytest.mark.parametrize("max_depth", [2, 3, 4])
def test_depth_agrees_with_strawberrys_limiter(text: str, max_depth: int) -> None:
    from graphql import validate

    document = parse(text)
    theirs = validate(SCHEMA._schema, document, QueryDepthLimiter(max_depth=max_depth).validation_rules)
    ours = over_limits(document, Limits(max_depth=max_depth, max_aliases=99, max_fields=9999))
    assert bool(theirs) == bool(ours), (theirs, ours)
