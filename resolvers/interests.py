"""Continuing entitlement in GraphQL (report section 3.30): a team that decided on a yes/no the hub gave it
registers an interest in the person, and reads a cursor feed of changes to that answer: only the new
yes/no, only while the interest is live, only for the purpose that allows the answer.

Registering names the person as a lookup does, and is refused as a lookup is: the user's own record
(OWN_RECORD, before anything is read), and anyone DWP does not hold or the team is not connected with,
which give one answer (SUBJECT_NOT_FOUND, one message; the audit record keeps the true reason).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.errors import BadUserInput, OwnRecord, PurposeForbidsField, SubjectNotFound
from hub.records.interests import InterestRow
from hub.types import subject_reference
from linkage import subject_hash
from linkage.link import person_key_for
from resolvers import arguments
from resolvers.arguments import number, page_size
from resolvers.context import RequestContext
from resolvers.pages import AfterArgument, after_id, page
from resolvers.relationship import require_relationship
from resolvers.sensitivity import tier
from resolvers.sources.base import Source
from resolvers.sources.contract import Ask, fetched, selection_from
from resolvers.sources.records import DwpRecord
from resolvers.types import Purpose, PurposeArgument

__all__ = ["WATCHED", "InterestMutation", "InterestQuery", "answers_from"]

#: The yes/no answers a decision may rest on, by the purpose that releases them, and how to read each.
WATCHED: Mapping[Purpose, tuple[str, Callable[[DwpRecord], bool]]] = {
    Purpose.BLUE_BADGE: (
        "DwpRecord.blueBadgeAutomaticEligibility",
        lambda record: fetched(record.blue_badge_automatic_eligibility),
    ),
}
_BY_FIELD = dict(WATCHED.values())


#: Who asks DWP when the hub re-reads a watched answer: the hub itself (each change is released, and audited,
#: only when the team that registered the interest reads it).
HUB_ORG, HUB_ORG_TYPE = "welfare-hub", "hub"


def answers_from(
    dwp: Source[DwpRecord], legal_bases: Mapping[str, str]
) -> Callable[[str, Sequence[str]], Awaitable[dict[str, bool]]]:
    """What the re-check reads: each DWP person's answer now, for a watched field (only that field is asked
    for, under the purpose that releases it; ``legal_bases`` by purpose, from the register)."""
    purposes = {field: purpose.value for purpose, (field, _) in WATCHED.items()}

    async def answers(field: str, person_ids: Sequence[str]) -> dict[str, bool]:
        read = _BY_FIELD[field]
        purpose = purposes[field]
        ask = Ask(
            purpose=purpose,
            legal_basis=legal_bases.get(purpose, ""),
            org=HUB_ORG,
            org_type=HUB_ORG_TYPE,
            audit_id=uuid.uuid4(),
            selection=selection_from([field]),
            councils=None,
        )
        records = await dwp.fetch([("id", pid) for pid in person_ids], ask)
        return {pid: read(r) for pid, r in zip(person_ids, records, strict=True) if r is not None}

    return answers


@strawberry.type(description="An interest in the answer a decision rests on.", directives=tier("benefit_status"))
class Interest:
    interest_id: strawberry.ID = strawberry.field(description="The interest's number.")
    subject_id: strawberry.ID = strawberry.field(description="The person, as your pseudonym.")
    answer: bool = strawberry.field(description="The answer as the hub last read it.")
    registered_at: dt.datetime = strawberry.field(description="When it was registered.")
    withdrawn_at: dt.datetime | None = strawberry.field(description="When it was withdrawn (no more changes).")


@strawberry.type(description="The answer a decision rests on changed.", directives=tier("benefit_status"))
class EntitlementChange:
    change_id: strawberry.ID = strawberry.field(description="Its place in your feed.")
    interest_id: strawberry.ID = strawberry.field(description="The interest it answers.")
    subject_id: strawberry.ID = strawberry.field(description="The person, as your pseudonym.")
    answer: bool = strawberry.field(description="The new answer.")
    changed_at: dt.datetime = strawberry.field(description="When the hub saw the change.")


@strawberry.type(description="A page of your feed, oldest first.", directives=tier("benefit_status"))
class EntitlementChangePage:
    items: list[EntitlementChange] = strawberry.field(description="The changes.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for what follows.")


def _interest(ctx: RequestContext, row: InterestRow) -> Interest:
    return Interest(
        interest_id=strawberry.ID(str(row.interest_id)),
        subject_id=strawberry.ID(row.subject_pseudonym),
        answer=row.last_answer,
        registered_at=row.registered_at,
        withdrawn_at=row.withdrawn_at,
    )


def _watched(ctx: RequestContext, purpose: Purpose) -> tuple[str, Callable[[DwpRecord], bool]]:
    if purpose not in WATCHED:
        raise BadUserInput(f"purpose {purpose.value} rests on no yes/no answer the hub can watch")
    field, read = WATCHED[purpose]
    if ctx.purpose is None or field not in ctx.purpose.fields:
        raise PurposeForbidsField(purpose.value, [field])
    return field, read


@strawberry.type(directives=tier("benefit_status"))
class InterestMutation:
    @strawberry.mutation(
        description="Register an interest in the yes/no your decision on this person rests on: changes to it "
        "appear in entitlementChanges while the interest is live."
    )
    async def register_interest(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        nino: Annotated[str, strawberry.argument(description="The person's National Insurance number.")],
    ) -> Interest:
        ctx = info.context
        field, read = _watched(ctx, purpose)
        keyed = arguments.nino(nino)
        subject = ctx.services.key_ring.hash_nino(keyed)
        ctx.subjects.append(subject)
        # The user's own record, as a lookup refuses it: by their NINO before anything is read, then by the
        # hub person the NINO is linked to.
        own = OwnRecord("you may not register an interest in your own record through the hub")
        if ctx.own_subject_known == subject_hash(ctx.services.key_ring, keyed):
            raise own
        indexed = await ctx.index_loader().load(keyed)
        if indexed is not None and ctx.own_person_known is not None and indexed.person_key == ctx.own_person_known:
            raise own
        dwp = ctx.services.sources.dwp
        # Only the DWP record id: a date of birth is not the purpose's to ask for.
        ids = await dwp.record_ids(keyed, await ctx.ask())
        if not ids:
            raise SubjectNotFound("DWP holds no one with this NINO")
        person_id = ids[0]
        if ctx.own_person_known is not None and person_key_for(person_id) == ctx.own_person_known:
            raise own
        # The same legitimate-relationship check as lookups; answered as "not found" when there is none.
        await require_relationship(ctx, {"dwp": [("id", person_id)]})
        # The pseudonym a lookup of this person gives this organisation (by the link index when it knows them).
        reference = subject_reference(person_key=indexed.person_key if indexed is not None else None, nino=keyed)
        (record,) = await dwp.fetch([("id", person_id)], (await ctx.ask()).asking(selection_from([field])))
        assert record is not None, "people_of has just found this person"
        ctx.sources_read.add("dwp")
        row = await ctx.services.interests.register(
            org=ctx.caller.org,
            purpose=purpose.value,
            field=field,
            subject=(subject.key_id, subject.value),
            person_key=person_key_for(person_id),
            subject_pseudonym=ctx.services.key_ring.pseudonym(ctx.caller.org, reference),
            dwp_person_id=person_id,
            answer=read(record),
            registered_by=ctx.user_hash,
        )
        return _interest(ctx, row)

    @strawberry.mutation(description="Withdraw an interest: no more changes are fed for it.")
    async def withdraw_interest(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        interest_id: Annotated[
            strawberry.ID, strawberry.argument(description="The interest to withdraw (Interest.interestId).")
        ],
    ) -> Interest | None:
        _watched(info.context, purpose)
        row = await info.context.services.interests.withdraw(info.context.caller.org, number(interest_id, "interestId"))
        return _interest(info.context, row) if row is not None else None


@strawberry.type(directives=tier("benefit_status"))
class InterestQuery:
    @strawberry.field(description="Changes to the answers your interests rest on, oldest first, after a cursor.")
    async def entitlement_changes(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        first: Annotated[int, strawberry.argument(description="How many changes to return, 1 to 1000.")] = 100,
        after: AfterArgument = None,
    ) -> EntitlementChangePage:
        ctx = info.context
        _watched(ctx, purpose)
        rows = await ctx.services.interests.changes(
            ctx.caller.org,
            purpose.value,
            after=after_id(after, "entitlementChanges") or 0,
            limit=page_size(first, 1000) + 1,
        )
        shown, next_cursor = page(rows, first, "entitlementChanges", lambda r: (r.change_id,))
        return EntitlementChangePage(
            items=[
                EntitlementChange(
                    change_id=strawberry.ID(str(r.change_id)),
                    interest_id=strawberry.ID(str(r.interest_id)),
                    subject_id=strawberry.ID(r.subject_pseudonym),
                    answer=r.answer,
                    changed_at=r.changed_at,
                )
                for r in shown
            ],
            next_cursor=next_cursor,
        )
