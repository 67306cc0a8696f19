"""The document check on its own (pure: a schema and a document, no store): the refusals a hub's document
can meet before anything is read."""

from __future__ import annotations

import pytest

from subgraphs.guard import DocumentChecks, Limits, Refused, check_document
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


# -- the memoised check (one analysis per document text; the assertion's part on every request) ---------

AWARDS = frozenset({"DwpPerson.awardsInPayment", "BenefitAward.benefit"})
BOTH = "query($r: [_Any!]!) { _entities(representations: $r) { ... on DwpPerson { awardsInPayment { benefit } } } }"


def _verdict(check: object) -> tuple[str, ...] | tuple[str, frozenset[str], tuple[object, ...]]:
    try:
        checked = check()  # type: ignore[operator]
    except Refused as refused:
        return ("refused", refused.code, refused.message)
    return (str(checked.root), checked.coordinates, checked.representations)


@pytest.mark.parametrize(("query", "code"), CASES)
def test_the_memoised_check_refuses_alike_the_first_time_and_every_time(query: str, code: str) -> None:
    limits = Limits(max_fragments=5000)
    checks = DocumentChecks(SCHEMA, limits)
    for _ in range(3):
        with pytest.raises(Refused) as refused:
            checks.check(query, {"r": []}, allowed=BADGE)
        assert refused.value.code == code
        uncached = _verdict(lambda: check_document(SCHEMA, query, {"r": []}, allowed=BADGE, limits=limits))
        assert ("refused", refused.value.code, refused.value.message) == uncached


def test_the_allowed_set_is_every_requests_own() -> None:
    checks = DocumentChecks(SCHEMA, Limits())
    reps = [{"__typename": "DwpPerson", "nino": "JK102030A"}]
    assert checks.check(BOTH, {"r": reps}, allowed=AWARDS).coordinates == AWARDS
    # The same text, cached, under an assertion that names less: refused, naming the first field missing.
    with pytest.raises(Refused) as refused:
        checks.check(BOTH, {"r": reps}, allowed=frozenset({"DwpPerson.awardsInPayment"}))
    assert (refused.value.code, refused.value.message.split()[0]) == ("FIELD_NOT_ALLOWED", "BenefitAward.benefit")
    with pytest.raises(Refused) as refused:
        checks.check(BOTH, {"r": reps}, allowed=frozenset())
    assert refused.value.message.split()[0] == "DwpPerson.awardsInPayment"
    assert checks.check(BOTH, {"r": reps}, allowed=AWARDS | BADGE).coordinates == AWARDS


def test_the_variables_are_every_requests_own() -> None:
    checks = DocumentChecks(SCHEMA, Limits(max_representations=2))
    one = [{"__typename": "DwpPerson", "nino": "JK102030A"}]
    two = [{"__typename": "DwpPerson", "recordId": "1"}, {"__typename": "DwpPerson", "recordId": "2"}]
    assert checks.check(BOTH, {"r": one}, allowed=AWARDS).representations == tuple(one)
    assert checks.check(BOTH, {"r": two}, allowed=AWARDS).representations == tuple(two)
    with pytest.raises(Refused) as refused:
        checks.check(BOTH, {"r": two + one}, allowed=AWARDS)
    assert refused.value.code == "QUERY_TOO_COMPLEX"
    with pytest.raises(Refused) as refused:
        checks.check(BOTH, {"r": "not a list"}, allowed=AWARDS)
    assert refused.value.code == "GRAPHQL_VALIDATION_FAILED"


def test_a_field_not_allowed_before_introspection_is_named_first_and_after_it_is_not() -> None:
    checks = DocumentChecks(SCHEMA, Limits())
    entities = "_entities(representations: []) { ... on DwpPerson { blueBadgeAutomaticEligibility } }"
    first = f'{{ {entities} __type(name: "X") {{ name }} }}'
    second = f'{{ __type(name: "X") {{ name }} {entities} }}'
    for query, allowed, code in [
        (first, frozenset(), "FIELD_NOT_ALLOWED"),
        (first, BADGE, "INTROSPECTION_DISABLED"),
        (second, frozenset(), "INTROSPECTION_DISABLED"),
    ]:
        for _ in range(2):
            with pytest.raises(Refused) as refused:
                checks.check(query, {}, allowed=allowed)
            assert refused.value.code == code
            assert _verdict(lambda q=query, a=allowed: check_document(SCHEMA, q, {}, allowed=a))[1] == code


def test_the_memo_is_bounded_in_entries_and_in_size() -> None:
    checks = DocumentChecks(SCHEMA, Limits(), maxsize=2, max_chars=200)
    texts = [f"query Q{i}($r: [_Any!]!) {{ _entities(representations: $r) {{ __typename }} }}" for i in range(3)]
    for text in texts:
        checks.check(text, {"r": []}, allowed=frozenset())
    assert list(checks._memo) == texts[1:]
    checks.check(texts[1], {"r": []}, allowed=frozenset())  # used: the most recent now
    checks.check(texts[0], {"r": []}, allowed=frozenset())
    assert list(checks._memo) == [texts[1], texts[0]]
    large = texts[2].replace("__typename", "__typename " * 30)
    assert len(large) > 200
    checks.check(large, {"r": []}, allowed=frozenset())  # answered, never held
    assert large not in checks._memo
