"""Complaints across organisations in GraphQL (report 3.77).

A data protection officer (or an auditor) raises a complaint about the audit events it concerns (the event
ids a subject access report lists), purpose COMPLAINTS; every organisation involved sees it and responds
(``complaintsInvolvingUs``, ``respondToComplaint``: no purpose, their own involvement only); auditors see
them all (``complaints``, purpose AUDIT or COMPLAINTS).

Each organisation the complaint is about (the caller of one of its events) answers for its own part and
closes only that; the complaint is closed when every part is (:mod:`hub.records.complaints`). Summaries and
notes are free text other organisations read: a NINO in them is refused (NINO_IN_FREE_TEXT).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.freetext import free_text
from hub.errors import BadUserInput
from hub.records.complaints import ComplaintRow
from resolvers.arguments import number, page_size
from resolvers.context import RequestContext
from resolvers.pages import AfterArgument, after_id, page
from resolvers.sensitivity import tier
from resolvers.types import PurposeArgument, describe_values

__all__ = ["ComplaintMutation", "ComplaintQuery", "ComplaintStatus"]


@strawberry.enum(description="Where a complaint, or one organisation's part of it, stands.")
class ComplaintStatus(Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    REJECTED = "rejected"


describe_values(
    ComplaintStatus,
    {
        ComplaintStatus.OPEN: "Raised, not yet taken up.",
        ComplaintStatus.INVESTIGATING: "Being looked into.",
        ComplaintStatus.RESOLVED: "Closed: put right, or answered.",
        ComplaintStatus.REJECTED: "Closed: not upheld.",
    },
)


@strawberry.type(description="A response to a complaint.", directives=tier("identity"))
class ComplaintResponse:
    organisation: str = strawberry.field(description="Who responded.")
    status: ComplaintStatus = strawberry.field(description="The status it set.")
    note: str = strawberry.field(description="What it said.")
    responded_at: dt.datetime = strawberry.field(description="When.")


@strawberry.type(
    description="One organisation's part of a complaint: the organisation it is about answers for its part.",
    directives=tier("identity"),
)
class ComplaintPart:
    organisation: str = strawberry.field(description="The organisation the complaint is about (an event's caller).")
    status: ComplaintStatus = strawberry.field(description="Where its part stands: set by that organisation alone.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")


@strawberry.type(description="A complaint about how information was shared.", directives=tier("identity"))
class Complaint:
    complaint_id: strawberry.ID = strawberry.field(description="Its number.")
    summary: str = strawberry.field(description="What the complaint is about.")
    status: ComplaintStatus = strawberry.field(
        description="Where it stands, from its parts: RESOLVED or REJECTED only when every part is closed (REJECTED "
        "when every party rejected it), INVESTIGATING once any part moved on."
    )
    raised_by: str = strawberry.field(description="The organisation that recorded it.")
    organisations: list[str] = strawberry.field(description="Every organisation involved.")
    event_ids: list[strawberry.ID] = strawberry.field(description="The audit events it concerns.")
    created_at: dt.datetime = strawberry.field(description="When it was raised.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")
    responses: list[ComplaintResponse] = strawberry.field(description="Responses, oldest first.")
    parts: list[ComplaintPart] = strawberry.field(
        description="Each organisation the complaint is about, with the status of its own part."
    )


@strawberry.type(description="A page of complaints, newest first.", directives=tier("identity"))
class ComplaintPage:
    items: list[Complaint] = strawberry.field(description="The complaints.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


async def _page(
    info: Info[RequestContext, None],
    field: str,
    org: str | None,
    status: ComplaintStatus | None,
    first: int,
    after: str | None,
) -> ComplaintPage:
    rows = await info.context.services.complaints.involving(
        org,
        status=status.value if status is not None else None,
        before=after_id(after, field),
        limit=page_size(first, 500) + 1,
    )
    shown, next_cursor = page(rows, first, field, lambda r: (r.complaint_id,))
    return ComplaintPage(items=[_complaint(r) for r in shown], next_cursor=next_cursor)


def _complaint(row: ComplaintRow) -> Complaint:
    return Complaint(
        complaint_id=strawberry.ID(str(row.complaint_id)),
        summary=row.summary,
        status=ComplaintStatus(row.status),
        raised_by=row.raised_by_org,
        organisations=list(row.organisations),
        event_ids=[strawberry.ID(str(s)) for s in row.event_seqs],
        created_at=row.created_at,
        updated_at=row.updated_at,
        responses=[
            ComplaintResponse(
                organisation=r.org, status=ComplaintStatus(r.status), note=r.note, responded_at=r.responded_at
            )
            for r in row.responses
        ],
        parts=[
            ComplaintPart(organisation=p.org, status=ComplaintStatus(p.status), updated_at=p.updated_at)
            for p in row.parts
        ],
    )


@strawberry.type(directives=tier("identity"))
class ComplaintMutation:
    @strawberry.mutation(description="Record a complaint about the audit events it concerns.")
    async def raise_complaint(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        event_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description="The audit events the complaint is about (SubjectAccessEntry.eventId), 1 to 100."
            ),
        ],
        summary: Annotated[
            str,
            strawberry.argument(
                description="What the complaint is about, in free text (up to 2,000 characters; no NINO)."
            ),
        ],
    ) -> Complaint:
        try:
            seqs = sorted({int(e) for e in event_ids})
        except ValueError:
            raise BadUserInput("eventIds must be audit event ids") from None
        if not 1 <= len(seqs) <= 100:
            raise BadUserInput("name between 1 and 100 audit events")
        row = await info.context.services.complaints.raise_(
            org=info.context.caller.org,
            user_hash=info.context.user_hash,
            summary=free_text(summary, "summary"),
            event_seqs=seqs,
        )
        if row is None:
            raise BadUserInput("an event named is not in the audit log")
        return _complaint(row)

    @strawberry.mutation(
        description="Respond to a complaint your organisation is involved in. The status is your own part's: only "
        "an organisation the complaint is about closes its part (RESOLVED, REJECTED), never another's, and the "
        "complaint closes when every part has. Null when there is no complaint open for you to answer."
    )
    async def respond_to_complaint(
        self,
        info: Info[RequestContext, None],
        complaint_id: Annotated[
            strawberry.ID, strawberry.argument(description="The complaint (Complaint.complaintId).")
        ],
        status: Annotated[ComplaintStatus, strawberry.argument(description="The new status of your part.")],
        note: Annotated[
            str,
            strawberry.argument(description="What you say about it, in free text (up to 2,000 characters; no NINO)."),
        ],
    ) -> Complaint | None:
        row = await info.context.services.complaints.respond(
            number(complaint_id, "complaintId"),
            org=info.context.caller.org,
            user_hash=info.context.user_hash,
            status=status.value,
            note=free_text(note, "note"),
        )
        return _complaint(row) if row is not None else None


@strawberry.type(directives=tier("identity"))
class ComplaintQuery:
    @strawberry.field(description="Every complaint (auditors, data protection officers), newest first.")
    async def complaints(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        status: Annotated[
            ComplaintStatus | None,
            strawberry.argument(description="Only complaints with this status; null for all."),
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many complaints to return, 1 to 500.")] = 100,
        after: AfterArgument = None,
    ) -> ComplaintPage:
        return await _page(info, "complaints", None, status, first, after)

    @strawberry.field(description="Complaints your organisation is involved in, newest first.")
    async def complaints_involving_us(
        self,
        info: Info[RequestContext, None],
        status: Annotated[
            ComplaintStatus | None,
            strawberry.argument(description="Only complaints with this status; null for all."),
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many complaints to return, 1 to 500.")] = 100,
        after: AfterArgument = None,
    ) -> ComplaintPage:
        return await _page(info, "complaintsInvolvingUs", info.context.caller.org, status, first, after)
