"""Corrections in GraphQL (report 3.76-3.77).

- ``reportInaccuracy`` (any organisation, no purpose: it may report only a field the audit log shows it
  received about that person): the field, the person's NINO and evidence;
- ``correctionsToReview`` / ``decideCorrection`` (purpose CORRECTION_REVIEW): the organisation that owns
  the record checks it and confirms or rejects. DWP's teams (``dwp_benefits``) own DWP's records; a
  council's Housing Benefit claim is owned by that council's HB team (``council_hb`` of that council), its
  social care case by that council's social care or care finance team. Another council's team of the same
  type sees nothing of it (not its evidence, not that it exists) and cannot decide it: for it, the
  correction answers exactly as one that does not exist. When the person's records in that source are held
  by several councils, each council gets a correction of its own records;
- ``correctionsWeReported`` (any organisation, its own only): the status of each correction it reported
  and who was told;
- ``correctionNotices`` (any organisation, its own only): which of its requests released a field that
  was then corrected, delivered through the outbox to every recipient, the reporter included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.freetext import free_text
from hub.errors import BadUserInput, NotReceived, SubjectNotFound
from hub.records.corrections import CorrectionRow
from resolvers import arguments
from resolvers.arguments import number, page_size
from resolvers.context import RequestContext
from resolvers.pages import AfterArgument, after_id, decode, page
from resolvers.sensitivity import tier
from resolvers.sources.contract import CORRECTION_ROUTING_PURPOSE
from resolvers.types import PurposeArgument, SourceSystem, describe_values

__all__ = ["OWNER_OF_TYPE", "CorrectionMutation", "CorrectionQuery", "CorrectionStatus"]

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


@strawberry.enum(description="Where a reported inaccuracy stands.")
class CorrectionStatus(Enum):
    REPORTED = "reported"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


describe_values(
    CorrectionStatus,
    {
        CorrectionStatus.REPORTED: "Reported: the organisation that owns the record has not decided yet.",
        CorrectionStatus.CONFIRMED: "The owner found the record wrong: every organisation that received the field "
        "for the person is sent a correction notice.",
        CorrectionStatus.REJECTED: "The owner found the record right: nothing changes.",
    },
)


@strawberry.type(description="A reported inaccuracy in a released field.", directives=tier("identity"))
class Correction:
    correction_id: strawberry.ID = strawberry.field(description="Its number.")
    field: str = strawberry.field(description="The field (Type.field).")
    status: CorrectionStatus = strawberry.field(description="Where the correction stands.")
    reported_at: dt.datetime = strawberry.field(description="When it was reported.")
    decided_at: dt.datetime | None = strawberry.field(description="When the owner of the record decided.")
    organisations_notified: list[str] = strawberry.field(
        description="Once confirmed, of the organisations that received the field for the person and are told: "
        "yours, if it is one (who else looked the person up is for the auditors, not the reporter or the owner)."
    )
    notified_count: int = strawberry.field(description="Once confirmed: how many organisations are told.")


@strawberry.type(
    description="A reported inaccuracy for the owning source to check.", directives=tier("special_category")
)
class CorrectionForReview:
    correction_id: strawberry.ID = strawberry.field(description="Its number.")
    field: str = strawberry.field(description="The field (Type.field).")
    source: SourceSystem = strawberry.field(description="Your source that holds it.")
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


@strawberry.type(description="A page of corrections, oldest first.", directives=tier("identity"))
class CorrectionPage:
    items: list[Correction] = strawberry.field(description="The corrections.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(
    description="A page of corrections for you to check, oldest first.", directives=tier("special_category")
)
class CorrectionForReviewPage:
    items: list[CorrectionForReview] = strawberry.field(description="The corrections.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="A page of correction notices, oldest first.", directives=tier("identity"))
class CorrectionNoticePage:
    items: list[CorrectionNotice] = strawberry.field(description="The notices.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


def _notices_after(after: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """A correctionNotices cursor: the last notice's delivery time and id (the id breaks ties)."""
    key = decode(after, "correctionNotices", (dt.datetime, uuid.UUID))
    if key is None:
        return None
    at, notice = key
    assert isinstance(at, dt.datetime), "decode gives the kinds asked for"
    assert isinstance(notice, uuid.UUID), "decode gives the kinds asked for"
    return at, notice


def _correction(row: CorrectionRow, viewer: str) -> Correction:
    """The correction as ``viewer`` (an organisation) may see it."""
    return Correction(
        correction_id=strawberry.ID(str(row.correction_id)),
        field=row.field,
        status=CorrectionStatus(row.status),
        reported_at=row.reported_at,
        decided_at=row.decided_at,
        organisations_notified=[org for org in row.notified if org == viewer],
        notified_count=len(row.notified),
    )


def _owned(ctx: RequestContext) -> list[str]:
    """The sources whose records the caller's type of team may own."""
    return [source for source, types in OWNERS.items() if ctx.caller.org_type in types]


async def _council(ctx: RequestContext) -> str | None:
    """The council whose records the caller's team owns (its own, or a partner's controller's); None for a
    team of no council, which owns no council's record."""
    org = ctx.organisation
    return await ctx.services.orgs.council_served(org) if org is not None else None


async def _owners(ctx: RequestContext, source: str, records: Sequence[str]) -> dict[str | None, list[str]]:
    """Who owns each of the person's records in ``source``: DWP (None) its own; each council its claims or
    cases (read from the source: the claim's or case's council)."""
    if source == "dwp":
        return {None: list(records)}
    owners: dict[str | None, list[str]] = {}
    if source == "hb":
        # Whose each claim is, whichever council: the question is who answers the report, not what it says.
        whose = ctx.hub_ask(
            CORRECTION_ROUTING_PURPOSE,
            {"HbPerson": frozenset({"claims"}), "HousingBenefitClaim": frozenset({"councilCode"})},
        )
        found = await ctx.services.sources.hb.fetch([("id", r) for r in records], whose)
        for record_id, hb in zip(records, found, strict=True):
            for claim in hb.claims if hb is not None else ():
                owners.setdefault(claim.council_code, []).append(record_id)
    else:
        ties = await ctx.services.sources[source].ties(
            [("id", r) for r in records], ctx.hub_ask(CORRECTION_ROUTING_PURPOSE, {})
        )
        for record_id, (councils, _) in zip(records, ties, strict=True):
            for council in councils:
                owners.setdefault(council, []).append(record_id)
    ctx.identity_sources.add(source)
    return {council: sorted(set(ids)) for council, ids in owners.items()}


async def _reportable(ctx: RequestContext, owners: dict[str | None, list[str]]) -> dict[str | None, list[str]]:
    """The records the reporter could have received, so may report: a council's team is given only its own
    council's claims and cases (``resolvers.relationship.council_held``), a national body every council's."""
    org = ctx.organisation
    if org is None or org.national or set(owners) == {None}:
        return owners
    own = await ctx.services.orgs.council_served(org)
    return {council: ids for council, ids in owners.items() if council == own}


async def _assign_owners(ctx: RequestContext, sources: Sequence[str]) -> None:
    """Corrections reported before owners were recorded get theirs, read from the source, when one council
    holds every record (a correction spanning councils is left for the operator: no council decides it)."""
    store = ctx.services.corrections
    for row in await store.unowned(sources, limit=100):
        owners = await _owners(ctx, row.source, row.source_record_ids)
        if len(owners) == 1 and (council := next(iter(owners))) is not None:
            await store.assign_owner(row.correction_id, council)


@strawberry.type(directives=tier("special_category"))
class CorrectionMutation:
    @strawberry.mutation(
        description="Report that a field you received about a person is wrong, with evidence. Only a field the "
        "audit log shows your organisation received for that person can be reported."
    )
    async def report_inaccuracy(
        self,
        info: Info[RequestContext, None],
        nino: Annotated[str, strawberry.argument(description="The person's National Insurance number.")],
        field: Annotated[
            str,
            strawberry.argument(
                description="The field that is wrong, as its coordinate (Type.field, e.g. DwpRecord.dateOfBirth)."
            ),
        ],
        evidence: Annotated[
            str, strawberry.argument(description="Why it is wrong, in free text (up to 2,000 characters; no NINO).")
        ],
    ) -> Correction:
        ctx = info.context
        type_name, _, name = field.partition(".")
        source = OWNER_OF_TYPE.get(type_name)
        if source is None or not name:
            raise BadUserInput("field must be a released field of a source record (Type.field)")
        evidence = free_text(evidence, "evidence")
        keyed = arguments.nino(nino)
        hashes = ctx.services.key_ring.hash_all(keyed)
        ctx.subjects.append(hashes[0])
        store = ctx.services.corrections
        if not await store.received(ctx.caller.org, [h.value for h in hashes], field):
            raise NotReceived("your organisation has not received this field for this person through the hub")
        indexed = await ctx.index_loader().load(keyed)
        records = indexed.records.get(source, []) if indexed is not None else []
        if not records:
            records = await ctx.services.sources[source].record_ids(keyed, ctx.hub_ask(CORRECTION_ROUTING_PURPOSE, {}))
        owners = await _reportable(ctx, await _owners(ctx, source, records))
        if not owners:
            raise SubjectNotFound("the source holds no record of the person the reporter could have received")
        rows = await store.report(
            org=ctx.caller.org,
            user_hash=ctx.user_hash,
            field=field,
            source=source,
            owners=owners,
            subject_hashes=[h.value for h in hashes],
            evidence=evidence,
        )
        return _correction(rows[0], ctx.caller.org)  # one per owning council: correctionsWeReported lists every one

    @strawberry.mutation(
        description="Confirm or reject a reported inaccuracy in a record your organisation owns (DWP its own; a "
        "council's team its own council's claims or cases); once confirmed, every organisation that received the "
        "field for the person is sent a correction notice. Null when there is no such correction for you to "
        "decide (none, another owner's, or decided already)."
    )
    async def decide_correction(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        correction_id: Annotated[
            strawberry.ID, strawberry.argument(description="The correction to decide (Correction.correctionId).")
        ],
        confirm: Annotated[
            bool,
            strawberry.argument(
                description="True: the record was wrong (confirmed; recipients are "
                "told); false: it was right (rejected)."
            ),
        ],
    ) -> Correction | None:
        ctx = info.context
        row = await ctx.services.corrections.decide(
            number(correction_id, "correctionId"),
            sources=_owned(ctx),
            council=await _council(ctx),
            confirm=confirm,
            org=ctx.caller.org,
            user_hash=ctx.user_hash,
        )
        return _correction(row, ctx.caller.org) if row is not None else None


@strawberry.type(directives=tier("special_category"))
class CorrectionQuery:
    @strawberry.field(
        description="Reported inaccuracies in records your organisation owns (DWP its own; a council's team its "
        "own council's claims or cases), oldest first."
    )
    async def corrections_to_review(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        first: Annotated[int, strawberry.argument(description="How many to return, 1 to 500.")] = 50,
        after: AfterArgument = None,
    ) -> CorrectionForReviewPage:
        ctx = info.context
        sources, council = _owned(ctx), await _council(ctx)
        limit, start = page_size(first, 500) + 1, after_id(after, "correctionsToReview") or 0
        if council is not None:
            await _assign_owners(ctx, [s for s in sources if s != "dwp"])
        rows = await ctx.services.corrections.open_for(sources, council, after=start, limit=limit)
        shown, next_cursor = page(rows, first, "correctionsToReview", lambda r: (r.correction_id,))
        items = [
            CorrectionForReview(
                correction_id=strawberry.ID(str(r.correction_id)),
                field=r.field,
                source=SourceSystem(r.source),
                source_record_ids=list(r.source_record_ids),
                evidence=r.evidence,
                reporter_org=r.reporter_org,
                reported_at=r.reported_at,
            )
            for r in shown
        ]
        return CorrectionForReviewPage(items=items, next_cursor=next_cursor)

    @strawberry.field(
        description="The corrections your organisation reported, oldest first, with their status and, once "
        "confirmed, who was told."
    )
    async def corrections_we_reported(
        self,
        info: Info[RequestContext, None],
        first: Annotated[int, strawberry.argument(description="How many to return, 1 to 1000.")] = 100,
        after: AfterArgument = None,
    ) -> CorrectionPage:
        rows = await info.context.services.corrections.reported_by(
            info.context.caller.org,
            after=after_id(after, "correctionsWeReported") or 0,
            limit=page_size(first, 1000) + 1,
        )
        shown, next_cursor = page(rows, first, "correctionsWeReported", lambda r: (r.correction_id,))
        return CorrectionPage(items=[_correction(r, info.context.caller.org) for r in shown], next_cursor=next_cursor)

    @strawberry.field(description="Correction notices for your organisation, oldest first (by deliveredAt).")
    async def correction_notices(
        self,
        info: Info[RequestContext, None],
        first: Annotated[int, strawberry.argument(description="How many to return, 1 to 1000.")] = 100,
        after: AfterArgument = None,
    ) -> CorrectionNoticePage:
        rows = await info.context.services.corrections.notices(
            info.context.caller.org, after=_notices_after(after), limit=page_size(first, 1000) + 1
        )
        shown, next_cursor = page(rows, first, "correctionNotices", lambda r: (r.delivered_at, r.notice_id))
        items = [
            CorrectionNotice(
                correction_id=strawberry.ID(str(r.correction_id)),
                field=r.field,
                request_ids=[str(x) for x in r.request_ids],
                delivered_at=r.delivered_at,
            )
            for r in shown
        ]
        return CorrectionNoticePage(items=items, next_cursor=next_cursor)
