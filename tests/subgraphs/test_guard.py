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
    pytest.param("mutation { deliverChanges(changes: []) { landed } }", "FIELD_NOT_ALLOWED", id="mutation-not-named"),
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


def test_a_source_without_an_inbox_takes_no_mutation() -> None:
    care = build_schema("social_care")._schema
    with pytest.raises(Refused) as refused:
        check_document(care, "mutation { x }", {}, allowed=frozenset({"Mutation.x"}))
    assert refused.value.code == "OPERATION_NOT_SUPPORTED"


DELIVERY = frozenset({"Mutation.deliverChanges", "DeliveryReceipt.landed"})


def test_a_delivery_is_one_mutation_root_with_its_arguments() -> None:
    changes = [{"deliveryId": "d", "targetRef": "7"}]
    checked = check_document(
        SCHEMA,
        "mutation($c: [InboxChangeInput!]!) { deliverChanges(changes: $c) { landed } }",
        {"c": changes},
        allowed=DELIVERY,
    )
    assert (checked.root, checked.coordinates, checked.arguments) == ("deliverChanges", DELIVERY, {"changes": changes})
    with pytest.raises(Refused) as refused:  # the receipt's other fields are not named
        check_document(SCHEMA, "mutation { deliverChanges(changes: []) { routed { claimRef } } }", {}, allowed=DELIVERY)
    assert refused.value.code == "FIELD_NOT_ALLOWED"


def test_linkage_roots_carry_their_arguments() -> None:
    allowed = frozenset({"Query.peopleByNino", "Candidate.recordId"})
    checked = check_document(
        SCHEMA, "query($n: [ID!]!) { peopleByNino(ninos: $n) { recordId } }", {"n": ["X"]}, allowed=allowed
    )
    assert (checked.root, checked.arguments) == ("peopleByNino", {"ninos": ["X"]})
    with pytest.raises(Refused) as refused:  # one data root a document
        check_document(
            SCHEMA,
            "{ peopleByNino(ninos: []) { recordId } candidates(queries: []) { recordId } }",
            {},
            allowed=allowed | {"Query.candidates"},
        )
    assert refused.value.code == "OPERATION_NOT_SUPPORTED"
