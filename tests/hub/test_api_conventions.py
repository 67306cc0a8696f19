"""API conventions a client can rely on (issue 16, item 7): every type, field, argument, input field and enum
value of the public schema says what it is, so a new undocumented one fails here rather than in review; and a
closed set of values is an enum, never a String, so a new String is free text by someone's choice."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import Enum
from typing import Any

import asyncpg
import graphql
import httpx
import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    get_named_type,
)

from hub.audit import anomalies, tracing
from hub.config import Settings
from hub.errors import SourceUnavailable
from hub.execution.schema import build_schema
from resolvers.audit import AnomalyKind, AuditDecision, LinkMethod, OperationType, SpanKind, SpanStatus
from resolvers.complaints import ComplaintStatus
from resolvers.corrections import CorrectionStatus
from resolvers.notifications import DeliveryStatus, DeliveryTarget, NotificationStatus
from resolvers.review import ReviewReason, ReviewStatus
from resolvers.sources import records
from resolvers.sources.remote import spans as remote_spans
from resolvers.types import CapitalBand, FinancialAssessment, SourceSystem
from tests import people as P
from tests.conftest import codes, gql


def _undescribed(schema: GraphQLSchema) -> list[str]:
    """Every schema coordinate (Type, Type.field, Type.field(arg), Enum.VALUE) with no description."""
    missing: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__"):  # introspection's own types are graphql-core's
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name}:)")
        if isinstance(named, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in named.values.items() if not value.description]
    return missing


def test_everything_in_the_schema_is_described() -> None:
    missing = _undescribed(build_schema(Settings())._schema)
    assert missing == [], "describe these (what it is, units, formats, defaults, what null means): " + ", ".join(
        missing
    )


def test_the_check_sees_an_undescribed_field() -> None:
    @strawberry.type(description="A root.")
    class Query:
        bare: int = 0

    assert _undescribed(strawberry.Schema(query=Query)._schema) == ["Query.bare"]


# -- closed sets are enums ---------------------------------------------------------------------------------

#: Every ``String`` field, argument and input field of the schema, by why it is not a closed set. A new one
#: fails :func:`test_every_string_is_free_text_on_purpose` until it is added here or made an enum with
#: UPPER_CASE values (docs/api.md): each is a choice someone made, not a set of values left as a string.
FREE_TEXT: dict[str, frozenset[str]] = {
    "names and addresses, as the source holds them or the caller gives them": frozenset(
        {
            "Address.line1",
            "Address.line2",
            "Address.town",
            "Address.postcode",
            "PersonName.givenName",
            "PersonName.middleNames",
            "PersonName.familyName",
            "NotifiedPerson.givenName",
            "NotifiedPerson.familyName",
            "NotifiedPerson.postcode",
            "NotifiedPerson.addressLine1",
            "PersonDemographics.givenName",
            "PersonDemographics.familyName",
            "PersonDemographics.postcode",
            "PersonDemographics.addressLine1",
        }
    ),
    "a NINO or an NHS number the caller gives (checked, hashed, never echoed)": frozenset(
        {
            "PersonDemographics.nhsNumber",
            "Query.person(nino:)",
            "Query.subjectAccessReport(nino:)",
            "Query.auditEvents(subjectNino:)",
            "Mutation.recordConsent(nino:)",
            "Mutation.withdrawConsent(nino:)",
            "Mutation.notifyChange(nino:)",
            "Mutation.registerInterest(nino:)",
            "Mutation.reportInaccuracy(nino:)",
        }
    ),
    "organisations by id, and their types: the organisation register's, which is data and grows": frozenset(
        {
            "AuditAnomaly.organisation",
            "AuditEvent.callerOrg",
            "AuditEvent.callerOrgType",
            "Complaint.raisedBy",
            "Complaint.organisations",
            "ComplaintPart.organisation",
            "ComplaintResponse.organisation",
            "ConsentReceipt.recipientOrganisation",
            "Correction.organisationsNotified",
            "CorrectionForReview.reporterOrg",
            "SubjectAccessCorrection.organisationsNotified",
            "SubjectAccessEntry.organisation",
            "SubjectAccessEntry.organisationType",
            "Query.auditEvents(organisation:)",
            "Mutation.recordConsent(recipientOrganisation:)",
            "Mutation.withdrawConsent(recipientOrganisation:)",
        }
    ),
    "references, ids, keyed hashes and keys (of requests, records, claims, councils, traces, models)": frozenset(
        {
            "AuditAnomaly.user",
            "AuditEvent.requestId",
            "AuditEvent.operationName",
            "AuditEvent.callerUser",
            "AuditEvent.modelVersion",
            "AuditEvent.traceId",
            "AuditEvent.recordHash",
            "AuditPublicKey.keyId",
            "AuditPublicKey.publicKey",
            "AuditVerification.headHash",
            "CorrectionForReview.sourceRecordIds",
            "CorrectionNotice.requestIds",
            "HousingBenefitClaim.claimRef",
            "HousingBenefitClaim.councilCode",
            "NotificationDelivery.councilCode",
            "ReviewItem.sourceRecordId",
            "ReviewItem.modelVersion",
            "TraceSpan.spanId",
            "TraceSpan.parentSpanId",
            "Mutation.notifyChange(idempotencyKey:)",
        }
    ),
    "field coordinates (Type.field): the schema's own, which grows": frozenset(
        {
            "AuditEvent.fieldsReleased",
            "Correction.field",
            "CorrectionForReview.field",
            "CorrectionNotice.field",
            "SharedField.coordinate",
            "SubjectAccessCorrection.field",
            "SubjectAccessEntry.fields",
            "Mutation.reportInaccuracy(field:)",
        }
    ),
    "free text a person writes (checked for NINOs)": frozenset(
        {
            "AuditHold.reason",
            "Complaint.summary",
            "ComplaintResponse.note",
            "CorrectionForReview.evidence",
            "Mutation.placeInvestigationHold(reason:)",
            "Mutation.raiseComplaint(summary:)",
            "Mutation.respondToComplaint(note:)",
            "Mutation.reportInaccuracy(evidence:)",
        }
    ),
    "the purpose register's and the privacy notice's words": frozenset(
        {
            "AuditEvent.legalBasis",
            "SubjectAccessEntry.legalBasis",
            "PrivacyNotice.controller",
            "PrivacyNotice.complaints",
            "PrivacyNotice.regulator",
            "PurposeNotice.title",
            "PurposeNotice.summary",
            "PurposeNotice.recipients",
            "PurposeNotice.legalBasis",
            "PurposeNotice.lawfulBasis",
            "PurposeNotice.specialCategoryCondition",
            "PurposeNotice.retention",
            "PurposeNotice.consentRenewal",
            "SharedField.description",
            "Count.key",
            "DecisionCounts.key",
        }
    ),
    "a source's own words, passed on as it holds them (its vocabulary is its own, and differs by source)": frozenset(
        {
            "BenefitAward.component",
            "BenefitAward.rate",
            "DeclaredCapital.kind",
            "DeclaredIncome.kind",
            "DhpAward.reason",
            "HouseholdMember.relationship",
        }
    ),
    "what the hub says or records in its own words: messages, error codes, span names and attributes (JSON)": (
        frozenset(
            {
                "AuditAnomaly.detail",
                "AuditProblem.message",
                "ReviewItem.why",
                "AuditEvent.reasonCodes",
                "AuditEvent.sourcesRead",
                "TraceSpan.name",
                "SpanAttribute.key",
                "SpanAttribute.value",
            }
        )
    ),
    # Each comparison has levels of its own ("two digits off" for a date of birth, "sector" for a postcode),
    # named for the reviewer in linkage/compare.py: one enum of them all would name no comparison's levels.
    "the linkage model's comparisons and each one's level labels": frozenset(
        {"FieldEvidence.comparison", "FieldEvidence.level"}
    ),
}


def _strings(schema: GraphQLSchema) -> set[str]:
    """Every coordinate (Type.field, Type.field(arg:), Input.field) whose type is String or a list of it."""
    found: set[str] = set()
    for name, named in schema.type_map.items():
        if name.startswith("__") or not isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            continue
        for field_name, field in named.fields.items():
            if get_named_type(field.type) is GraphQLString:
                found.add(f"{name}.{field_name}")
            for arg_name, arg in getattr(field, "args", {}).items():
                if get_named_type(arg.type) is GraphQLString:
                    found.add(f"{name}.{field_name}({arg_name}:)")
    return found


def test_every_string_is_free_text_on_purpose() -> None:
    strings = _strings(build_schema(Settings())._schema)
    listed = set().union(*FREE_TEXT.values())
    assert sorted(strings - listed) == [], (
        "a closed set of values is an enum with UPPER_CASE values (docs/api.md); free text goes in FREE_TEXT"
    )
    assert sorted(listed - strings) == [], "no longer a String: take it out of FREE_TEXT"


def test_the_check_sees_a_new_string() -> None:
    @strawberry.type(description="A root.")
    class Query:
        @strawberry.field(description="A field.")
        def state(self, which: str | None = None) -> str:
            return ""

    assert _strings(strawberry.Schema(query=Query)._schema) == {"Query.state", "Query.state(which:)"}


BAD_VALUES = [
    # The value as a client wrote it before the enums (a string), and a name the enum does not have.
    pytest.param(
        'mutation { respondToComplaint(complaintId: "1", status: "resolved", note: "x") { complaintId } }',
        "ComplaintStatus",
        "RESOLVED",
        id="respondToComplaint-status-string",
    ),
    pytest.param(
        "{ complaintsInvolvingUs(status: CLOSED) { items { complaintId } } }",
        "ComplaintStatus",
        None,
        id="complaintsInvolvingUs-status-unknown",
    ),
    pytest.param(
        '{ auditEvents(purpose: AUDIT, decision: "released") { items { eventId } } }',
        "AuditDecision",
        "RELEASED",
        id="auditEvents-decision-string",
    ),
    pytest.param(
        "{ complaints(purpose: AUDIT, status: open) { items { complaintId } } }",
        "ComplaintStatus",
        "OPEN",
        id="complaints-status-lower-case",
    ),
]


@pytest.mark.parametrize(("document", "enum", "suggested"), BAD_VALUES)
async def test_a_bad_enum_argument_is_a_validation_error_that_names_the_enum(
    client: httpx.AsyncClient, token: Any, document: str, enum: str, suggested: str | None
) -> None:
    auditor = token("auditor", "AUDIT", org="enum-auditor")
    body = (await gql(client, auditor, document)).json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert body.get("data") is None  # refused whole, before anything ran
    (error,) = body["errors"]
    assert f"'{enum}'" in error["message"], error
    if suggested is not None:
        assert f"Did you mean the enum value '{suggested}'" in error["message"], error


async def test_a_bad_enum_variable_is_bad_input_that_names_the_enum(client: httpx.AsyncClient, token: Any) -> None:
    # A variable is coerced, not validated: the request is refused as bad input (as any variable of the wrong
    # type is), before any source is read, and the message says which enum the value was not in.
    auditor = token("auditor", "AUDIT", org="enum-auditor")
    q = "query($d: AuditDecision) { auditEvents(purpose: AUDIT, decision: $d) { items { eventId } } }"
    body = (await gql(client, auditor, q, {"d": "released"})).json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert "'AuditDecision' enum" in body["errors"][0]["message"]


async def test_an_enum_field_round_trips_the_stored_value(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="enum-badge")
    lookup = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
    assert "errors" not in (await gql(client, badge, lookup, {"n": P.PIP_MOVING})).json()
    stored = await admin["hub"].fetchrow(
        "SELECT seq, decision, operation_type, link_method FROM hub.audit_event WHERE caller_org = 'enum-badge'"
    )
    assert stored["decision"] == "released"  # what the database keeps does not change: only the schema's names

    auditor = token("auditor", "AUDIT", org="enum-auditor")
    q = """query($d: AuditDecision!) { auditEvents(purpose: AUDIT, organisation: "enum-badge", decision: $d,
      forPurpose: BLUE_BADGE) { items { eventId decision purpose operationType linkMethod } } }"""
    released = (await gql(client, auditor, q, {"d": "RELEASED"})).json()
    assert "errors" not in released, released
    assert released["data"]["auditEvents"]["items"] == [
        {
            "eventId": str(stored["seq"]),
            "decision": "RELEASED",
            "purpose": "BLUE_BADGE",
            "operationType": "QUERY",
            "linkMethod": LinkMethod(stored["link_method"]).name,
        }
    ]
    refused = (await gql(client, auditor, q, {"d": "REFUSED"})).json()
    assert refused["data"]["auditEvents"]["items"] == []  # the filter is mapped to the stored value too


#: Each enum beside the column it is stored in: the column's CHECK constraint is the set the database holds.
STORED = [
    (AuditDecision, "hub", "hub.audit_event", "decision"),
    (ComplaintStatus, "hub", "hub.complaint", "status"),
    (ComplaintStatus, "hub", "hub.complaint_party", "status"),
    (ComplaintStatus, "hub", "hub.complaint_response", "status"),
    (CorrectionStatus, "hub", "hub.correction", "status"),
    (SourceSystem, "hub", "hub.correction", "source"),
    (SourceSystem, "hub", "hub.link", "source"),
    (ReviewStatus, "hub", "hub.review_item", "status"),
    (ReviewReason, "hub", "hub.review_item", "reason"),
    (NotificationStatus, "hub", "hub.notification", "status"),
    (DeliveryStatus, "hub", "hub.outbox", "status"),
    (CapitalBand, "src_social_care", "social_care.financial_assessment", "capital_band"),
]


async def _allowed(conn: asyncpg.Connection, table: str, column: str) -> set[str]:
    """The values a column's CHECK (column IN (...)) constraint allows."""
    definitions = await conn.fetch(
        "SELECT pg_get_constraintdef(c.oid) AS d FROM pg_constraint c JOIN pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
        "WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2 AND cardinality(c.conkey) = 1",
        table,
        column,
    )
    (definition,) = [r["d"] for r in definitions if "ANY" in r["d"]]
    return set(re.findall(r"'([^']*)'::text", definition))


@pytest.mark.parametrize(("enum", "store", "table", "column"), STORED, ids=lambda v: v if isinstance(v, str) else "")
async def test_an_enum_has_a_member_for_every_value_its_column_holds(
    admin: dict[str, asyncpg.Connection], enum: type[Enum], store: str, table: str, column: str
) -> None:
    # Both ways: a stored value the enum lacks fails the field that reads it; a member the column lacks fails
    # the write an argument leads to.
    assert {m.value for m in enum} == await _allowed(admin[store], table, column)


async def test_a_delivery_target_is_a_notification_s_outbox_target(admin: dict[str, asyncpg.Connection]) -> None:
    # The outbox also carries correction notices to organisations ('org'): never a notification's delivery.
    assert {t.value for t in DeliveryTarget} == await _allowed(admin["hub"], "hub.outbox", "target") - {"org"}


def test_the_enums_of_values_the_code_makes_name_every_one() -> None:
    assert {k.value for k in AnomalyKind} == set(anomalies._ORDER)
    assert {k.value for k in SpanKind} == set(tracing._KIND_NAMES.values())
    assert {s.value for s in SpanStatus} == set(tracing._STATUS_NAMES.values())
    assert {k.value for k in SpanKind} >= remote_spans._KINDS  # what a subgraph may send
    assert {s.value for s in SpanStatus} >= remote_spans._STATUSES
    assert {t.value for t in OperationType} == {t.value for t in graphql.OperationType}


def test_a_capital_band_outside_the_source_contract_is_a_source_failure() -> None:
    @strawberry.type(description="A root.")
    class Query:
        @strawberry.field(description="An assessment with this band.", graphql_type=FinancialAssessment | None)
        def assessment(self, band: str) -> records.FinancialAssessment:
            return records.FinancialAssessment(dt.date(2026, 1, 5), Decimal("42.75"), band)

    result = strawberry.Schema(query=Query).execute_sync(
        '{ known: assessment(band: "tariff") { capitalBand } unknown: assessment(band: "between") { capitalBand } }'
    )
    assert result.data == {"known": {"capitalBand": "TARIFF"}, "unknown": None}
    (error,) = result.errors or []
    assert isinstance(error.original_error, SourceUnavailable)
    assert "between" not in error.message  # a source's value is never repeated in a message


#: Arguments that page a list: a field taking one is a page, of the one shape (docs/api.md).
_PAGING = {"first", "after", "last", "before", "limit", "offset", "cursor", "since_id"}


def _page_style_problems(schema: GraphQLSchema) -> list[str]:
    """Every field that pages (takes a paging argument or returns a ``...Page``) and is not
    ``field(..., first: Int!, after: ID): XPage!`` with ``XPage { items: [X!]! nextCursor: ID }``."""
    problems: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in named.fields.items():
            where = f"{name}.{field_name}"
            returned = get_named_type(field.type)
            if not set(field.args) & _PAGING and not returned.name.endswith("Page"):
                continue
            args = list(field.args)
            if not (
                "first" in field.args
                and str(field.args["first"].type) == "Int!"
                and "after" in field.args
                and str(field.args["after"].type) == "ID"
                and args.index("first") < args.index("after")
                and not set(args) & (_PAGING - {"first", "after"})
            ):
                problems.append(f"{where}: take first: Int! then after: ID, and no other paging argument")
            if not (graphql.is_non_null_type(field.type) and isinstance(returned, GraphQLObjectType)):
                problems.append(f"{where}: return a page type (XPage!), not {field.type}")
                continue
            page = returned.fields
            items = page.get("items")
            cursor = page.get("nextCursor")
            if (
                set(page) != {"items", "nextCursor"}
                or items is None
                or not re.fullmatch(r"\[\w+!\]!", str(items.type))
                or cursor is None
                or str(cursor.type) != "ID"
                or (returned.name != f"{get_named_type(items.type).name}Page" and returned.name not in _PAGE_NAMES_KEPT)
            ):
                problems.append(f"{where}: return XPage {{ items: [X!]! nextCursor: ID }}, not {returned.name}")
    return problems


#: Page types whose names came before the one shape (kept: clients name them in fragments).
_PAGE_NAMES_KEPT = {"AuditEventPage", "EntitlementChangePage"}


def test_every_paged_list_has_the_one_page_shape() -> None:
    schema = build_schema(Settings())._schema
    assert _page_style_problems(schema) == []
    query = schema.query_type
    assert query is not None
    paged = {f for f, field in query.fields.items() if "after" in field.args}
    assert paged >= {
        "auditEvents",
        "entitlementChanges",
        "reviewQueue",
        "correctionsToReview",
        "correctionsWeReported",
        "correctionNotices",
        "complaints",
        "complaintsInvolvingUs",
    }


@strawberry.type(description="A page (of the check's own schema).")
class IntPage:
    items: list[int] = strawberry.field(description="The things.")
    next_cursor: strawberry.ID | None = strawberry.field(description="The next.")


def test_the_page_check_sees_a_fifth_style() -> None:
    @strawberry.type(description="A root.")
    class Query:
        @strawberry.field(description="A plain list with a limit.")
        def listed(self, limit: int = 10) -> list[int]:
            return []

        @strawberry.field(description="Arguments the other way round.")
        def swapped(self, after: strawberry.ID | None = None, first: int = 10) -> IntPage:
            return IntPage(items=[], next_cursor=None)

        @strawberry.field(description="The one shape.")
        def good(self, first: int = 10, after: strawberry.ID | None = None) -> IntPage:
            return IntPage(items=[], next_cursor=None)

    problems = _page_style_problems(strawberry.Schema(query=Query)._schema)
    assert [p.split(":")[0] for p in problems] == ["Query.listed", "Query.listed", "Query.swapped"]
