"""The clerical review queue in GraphQL: candidates between the bands, for an authorised reviewer.

A reviewer sees why the hub was unsure (per-field agreement levels and weights, never the values) and
where the record lives (source and record id, to open in that source's own system), and accepts or
rejects the candidate. The candidate person appears only as the reviewer organisation's pseudonym.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.records.links import EvidenceTerm, ReviewRow
from hub.types import subject_reference
from resolvers.arguments import number, page_size
from resolvers.context import RequestContext
from resolvers.pages import AfterArgument, after_id, page
from resolvers.sensitivity import tier
from resolvers.types import PurposeArgument, SourceSystem, describe_values

__all__ = ["FieldEvidence", "ReviewItem", "ReviewMutation", "ReviewQuery", "ReviewReason", "ReviewStatus"]


@strawberry.enum(description="Where a review item stands.")
class ReviewStatus(Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


describe_values(
    ReviewStatus,
    {
        ReviewStatus.OPEN: "Waiting for a reviewer.",
        ReviewStatus.ACCEPTED: "A reviewer found the record is the candidate person: they are linked.",
        ReviewStatus.REJECTED: "A reviewer found the record is not the candidate person.",
        ReviewStatus.SUPERSEDED: "Closed by a later linking run, which no longer puts this candidate to review.",
    },
)


@strawberry.enum(description="Why the hub could not link a record with certainty.")
class ReviewReason(Enum):
    PROBABILISTIC = "probabilistic"
    NINO_CONFLICT = "nino_conflict"
    SPINE_RECORD_IN_REVIEW = "spine_record_in_review"


describe_values(
    ReviewReason,
    {
        ReviewReason.PROBABILISTIC: "The linkage model judged it between the bands: likely, not certain.",
        ReviewReason.NINO_CONFLICT: "The NINOs agree, but the given name or the date of birth clearly does not.",
        ReviewReason.SPINE_RECORD_IN_REVIEW: "The DWP record it matches is itself in review: DWP holds its NINO on "
        "another person's record too, and nothing links to it until a person decides whose it is.",
    },
)


@strawberry.type(
    description="How one field compared: an agreement level and its weight (log2 odds).", directives=tier("identity")
)
class FieldEvidence:
    comparison: str = strawberry.field(description="Which detail was compared (name, date of birth, address).")
    level: str = strawberry.field(
        description="How closely it agreed, in that comparison's own words (exact, similar, two digits off, "
        "missing, ...), not the values."
    )
    weight: float = strawberry.field(description="How much that agreement counted, in bits.")


@strawberry.type(
    description="A record the hub could not link with certainty, and the person it might be.",
    directives=tier("identity"),
)
class ReviewItem:
    review_id: strawberry.ID = strawberry.field(description="The review item's number.")
    source: SourceSystem = strawberry.field(description="Which system holds the record.")
    source_record_id: str = strawberry.field(description="The record's id in that system.")
    reason: ReviewReason = strawberry.field(description="Why the hub was unsure.")
    probability: float | None = strawberry.field(description="How likely the hub judged the two to be one person.")
    match_weight: float | None = strawberry.field(description="The same, as a match weight (log2 odds).")
    model_version: str | None = strawberry.field(description="The linkage model that judged it.")
    evidence: list[FieldEvidence] = strawberry.field(description="How each detail compared.")
    candidate_subject: strawberry.ID = strawberry.field(description="The candidate person, as your pseudonym.")
    status: ReviewStatus = strawberry.field(description="Where the item stands.")
    created_at: dt.datetime = strawberry.field(description="When the item was queued.")
    why: str = strawberry.field(
        description="Why the item is in the queue, in words: the hub's reason, the bands it was weighed "
        "against, and the details that counted for and against, strongest first (no value of the record)."
    )


@strawberry.type(description="A page of open review items, oldest first.", directives=tier("identity"))
class ReviewItemPage:
    items: list[ReviewItem] = strawberry.field(description="The review items.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


def _evidence(e: EvidenceTerm) -> FieldEvidence:
    return FieldEvidence(comparison=e["comparison"], level=e["level"], weight=float(e["weight"]))


def _item(ctx: RequestContext, row: ReviewRow) -> ReviewItem:
    return ReviewItem(
        review_id=strawberry.ID(str(row.review_id)),
        source=SourceSystem(row.source),
        source_record_id=row.source_record_id,
        reason=ReviewReason(row.reason),
        probability=row.probability,
        match_weight=row.match_weight,
        model_version=row.model_version,
        evidence=[_evidence(e) for e in row.evidence],
        candidate_subject=strawberry.ID(
            ctx.services.key_ring.pseudonym(ctx.caller.org, subject_reference(person_key=row.candidate_person))
        ),
        status=ReviewStatus(row.status),
        created_at=row.created_at,
        why=row.why,
    )


@strawberry.type(directives=tier("identity"))
class ReviewQuery:
    @strawberry.field(description="Open review items, oldest first.")
    async def review_queue(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        first: Annotated[int, strawberry.argument(description="How many items to return, 1 to 100.")] = 20,
        after: AfterArgument = None,
    ) -> ReviewItemPage:
        rows = await info.context.services.review.open_items(
            limit=page_size(first, 100) + 1, after=after_id(after, "reviewQueue")
        )
        shown, next_cursor = page(rows, first, "reviewQueue", lambda r: (r.review_id,))
        return ReviewItemPage(items=[_item(info.context, r) for r in shown], next_cursor=next_cursor)


@strawberry.type(directives=tier("identity"))
class ReviewMutation:
    @strawberry.mutation(description="Accept or reject a candidate. Audited; never undone by a batch build.")
    async def decide_review(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        review_id: Annotated[
            strawberry.ID, strawberry.argument(description="The review item to decide (ReviewItem.reviewId).")
        ],
        accept: Annotated[
            bool,
            strawberry.argument(description="True: the record is the candidate person (link them); false: it is not."),
        ],
    ) -> ReviewItem | None:
        ctx = info.context
        row = await ctx.services.review.decide(number(review_id, "reviewId"), accept=accept, decided_by=ctx.user_hash)
        return _item(ctx, row) if row is not None else None
