"""Corrections in GraphQL (report 3.76-3.77).

- ``reportInaccuracy`` (any organisation, no purpose: it may report only a field the audit log shows it
  received about that person): the field, the person's NINO and evidence;
- ``correctionsToReview`` / ``decideCorrection`` (purpose CORRECTION_REVIEW, for the organisation type
  that owns the field's source): the owner checks its own record and confirms or rejects;
- ``correctionNotices`` (any organisation, its own only): which of its requests released a field that
  was then corrected, delivered through the outbox to every recipient, the reporter included.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from hub.errors import BadUserInput, NotReceived
from hub.records.corrections import CorrectionRow
from resolvers import arguments
from resolvers.arguments import cursor, number, page_size, text
from resolvers.context import RequestContext
from resolvers.sensitivity import tier
from resolvers.types import Purpose

__all__ = ["OWNER_OF_TYPE", "CorrectionMutation", "CorrectionQuery"]

#: Which source owns a released field, by the field's type.
OWNER_OF_TYPE = {
    **dict.fromkeys(
        ("DwpRecord", "PersonName", "Address", "BenefitAward", "DeclaredIncome", "DeclaredCapital", "HouseholdMember"),
        "dwp",
    ),
    **dict.fromkeys(("HousingBenefitRecord", "HousingBenefitClaim", "DhpAward"), "hb"),
    **dict.fromkeys(("SocialCareRecord", "CarePlacement", "FinancialAssessment", "CarePlan"), "social_care"),
}
#: Who decides for each source.
OWNERS = {
    "dwp": frozenset({"dwp_benefits"}),
    "hb": frozenset({"council_hb"}),
    "social_care": frozenset({"council_social_care", "council_care_finance"}),
}


@strawberry.type(description="A reported inaccuracy in a released field.", directives=tier("identity"))
class Correction:
    correction_id: strawberry.ID = strawberry.field(description="Its number.")
    field: str = strawberry.field(description="The field (Type.field).")
    status: str = strawberry.field(description="reported, confirmed or rejected.")
    reported_at: dt.datetime = strawberry.field(description="When it was reported.")
    decided_at: dt.datetime | None = strawberry.field(description="When the owning source decided.")
    organisations_notified: list[str] = strawberry.field(
        description="Once confirmed: every organisation that received the field for the person, to be told."
    )


@strawberry.type(
    description="A reported inaccuracy for the owning source to check.", directives=tier("special_category")
)
class CorrectionForReview:
    correction_id: strawberry.ID = strawberry.field(description="Its number.")
    field: str = strawberry.field(description="The field (Type.field).")
    source: str = strawberry.field(description="Your source that holds it.")
    source_record_ids: list[str] = strawberry.field(description="Your own records of the person, to check.")
    evidence: str = strawberry.field(description="What the reporter gave as evidence.")
    reporter_org: str = strawberry.field(description="Who reported it.")
    reported_at: dt.datetime = strawberry.field(description="When.")


@strawberry.type(description="A field you received was corrected at its source.", directives=tier("identity"))
class CorrectionNotice:
    correction_id: strawberry.ID = strawberry.field(description="The correction.")
    field: str = strawberry.field(description="The field that was wrong (Type.field).")
    request_ids: list[str] = strawberry.field(description="Your requests that received it (audit request ids).")
    delivered_at: dt.datetime = strawberry.field(description="When the notice reached you.")


def _correction(row: CorrectionRow) -> Correction:
    return Correction(
        correction_id=strawberry.ID(str(row.correction_id)),
        field=row.field,
        status=row.status,
        reported_at=row.reported_at,
        decided_at=row.decided_at,
        organisations_notified=list(row.notified),
    )


def _owned(ctx: RequestContext) -> list[str]:
    return [source for source, types in OWNERS.items() if ctx.caller.org_type in types]


@strawberry.type(directives=tier("special_category"))
class CorrectionMutation:
    @strawberry.mutation(
        description="Report that a field you received about a person is wrong, with evidence. Only a field the "
        "audit log shows your organisation received for that person can be reported."
    )
    async def report_inaccuracy(
        self, info: Info[RequestContext, None], nino: str, field: str, evidence: str
    ) -> Correction:
        ctx = info.context
        type_name, _, name = field.partition(".")
        source = OWNER_OF_TYPE.get(type_name)
        if source is None or not name:
            raise BadUserInput("field must be a released field of a source record (Type.field)")
        evidence = text(evidence, "evidence")
        keyed = arguments.nino(nino)
        hashes = ctx.services.key_ring.hash_all(keyed)
        ctx.subjects.append(hashes[0])
        store = ctx.services.corrections
        if not await store.received(ctx.caller.org, [h.value for h in hashes], field):
            raise NotReceived("your organisation has not received this field for this person through the hub")
        indexed = await ctx.index_loader().load(keyed)
        records = indexed.records.get(source, []) if indexed is not None else []
        if not records:
            records = await ctx.services.sources[source].record_ids(keyed)
        row = await store.report(
            org=ctx.caller.org,
            user_hash=ctx.user_hash,
            field=field,
            source=source,
            source_record_ids=records,
            subject_hashes=[h.value for h in hashes],
            evidence=evidence,
        )
        return _correction(row)

    @strawberry.mutation(
        description="Confirm or reject a reported inaccuracy in your source; once confirmed, every organisation "
        "that received the field for the person is sent a correction notice."
    )
    async def decide_correction(
        self, info: Info[RequestContext, None], purpose: Purpose, correction_id: strawberry.ID, confirm: bool
    ) -> Correction | None:
        ctx = info.context
        row = await ctx.services.corrections.decide(
            number(correction_id, "correctionId"),
            sources=_owned(ctx),
            confirm=confirm,
            org=ctx.caller.org,
            user_hash=ctx.user_hash,
        )
        return _correction(row) if row is not None else None


@strawberry.type(directives=tier("special_category"))
class CorrectionQuery:
    @strawberry.field(description="Reported inaccuracies in your source, oldest first.")
    async def corrections_to_review(
        self, info: Info[RequestContext, None], purpose: Purpose, after: strawberry.ID | None = None, first: int = 50
    ) -> list[CorrectionForReview]:
        ctx = info.context
        rows = await ctx.services.corrections.open_for(
            _owned(ctx), after=cursor(after, "after") or 0, limit=page_size(first, 500)
        )
        return [
            CorrectionForReview(
                correction_id=strawberry.ID(str(r.correction_id)),
                field=r.field,
                source=r.source,
                source_record_ids=list(r.source_record_ids),
                evidence=r.evidence,
                reporter_org=r.reporter_org,
                reported_at=r.reported_at,
            )
            for r in rows
        ]

    @strawberry.field(description="Correction notices for your organisation, oldest first (after: a deliveredAt).")
    async def correction_notices(
        self, info: Info[RequestContext, None], after: dt.datetime | None = None, first: int = 100
    ) -> list[CorrectionNotice]:
        rows = await info.context.services.corrections.notices(
            info.context.caller.org, after=after, limit=page_size(first, 1000)
        )
        return [
            CorrectionNotice(
                correction_id=strawberry.ID(str(r.correction_id)),
                field=r.field,
                request_ids=[str(x) for x in r.request_ids],
                delivered_at=r.delivered_at,
            )
            for r in rows
        ]
