"""The audit record's decision, by the class of each error (hub.errors.HubError.refusal), not by its code.

Field-level refusals used to be recorded as ``error``, so the auditor's "refused" filter missed them. The
HTTP side (a NO_LEGITIMATE_RELATIONSHIP found by that filter) is in tests/hub/test_audit_receipts.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import ExecutionResult, GraphQLError

from hub.errors import (
    AuditUnavailable,
    HubError,
    NoLegitimateRelationship,
    OwnRecord,
    ProtectedAddress,
    PurposeForbidsField,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
)
from hub.execution.record import decision_of


def _error(e: Exception | None) -> GraphQLError:
    return GraphQLError(str(e) if e else "Cannot query field 'x'", original_error=e)


REFUSAL = NoLegitimateRelationship("not connected with your area")
FIELD = PurposeForbidsField("BLUE_BADGE", ["DwpRecord.name"])
PROTECTED = ProtectedAddress("withheld")
FAILURE = SourceUnavailable("hb", "source hb is unavailable")


@pytest.mark.parametrize(
    ("data", "errors", "expected"),
    [
        ({"person": {"subjectId": "ps_1"}}, [], "released"),
        ({"person": None}, [REFUSAL], "refused"),  # was "error": the refused filter missed it
        ({"person": None}, [FIELD, REFUSAL], "refused"),
        ({"a": None, "b": None}, [OwnRecord("your own record"), REFUSAL], "refused"),
        (None, [PROTECTED], "refused"),
        ({"person": {"dwp": None}}, [FIELD], "partial"),  # something released beside the refusal
        ({"person": {"hb": None}}, [FAILURE], "partial"),
        ({"person": None}, [FAILURE], "error"),
        ({"person": None}, [SourceTimeout("dwp", "timed out")], "error"),
        ({"person": None}, [REFUSAL, FAILURE], "error"),  # a failure too: not only a decision
        # Not found is a refusal, as "not yours" is: the receipt's decision must not tell them apart.
        ({"person": None}, [SubjectNotFound("no such person")], "refused"),
        (None, [AuditUnavailable("audit down")], "error"),
        ({"person": None}, [None], "error"),  # an error the hub did not raise is a failure
        ({"person": None}, [], "error"),
    ],
)
def test_the_decision_follows_the_class_of_each_error(
    data: dict[str, Any] | None, errors: list[Exception | None], expected: str
) -> None:
    result = ExecutionResult(data=data, errors=[_error(e) for e in errors] or None)
    assert decision_of(SimpleNamespace(refused=False), result) == expected  # type: ignore[arg-type]


def test_an_operation_refused_before_execution_is_refused_whatever_it_returned() -> None:
    result = ExecutionResult(data=None, errors=[_error(FAILURE)])
    assert decision_of(SimpleNamespace(refused=True), result) == "refused"  # type: ignore[arg-type]


def test_every_refusal_class_says_so_and_no_failure_does() -> None:
    import hub.errors as errors

    classes = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, HubError)}
    refusals = {c.__name__ for c in classes if c.refusal}
    assert {"RequestRefused", "NoLegitimateRelationship", "PurposeForbidsField", "ProtectedAddress"} <= refusals
    for c in classes:
        if issubclass(c, errors.RequestRefused):
            assert c.refusal, c
    assert {"SubjectNotFound", "MatchNeedsReview"} <= refusals
    assert not {"SourceError", "SourceUnavailable", "AuditUnavailable", "HubError"} & refusals
