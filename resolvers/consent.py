"""Consent mutations: an organisation the register allows records, or withdraws, a person's consent to a
consent-based purpose. The person is named by NINO (hashed on the way in; never echoed back).

Consent is specific (report 2.21): to one recipient organisation, for one purpose, until a date. The rules:

- **recording** needs what a lookup needs: the recorder's organisation type may record consent for the
  purpose, and the recorder has a legitimate relationship with the person (a claim, a case or a home in its
  council's area, unless it is a national body or the purpose asks no tie). Someone unknown and someone not
  connected with the recorder answer alike (SUBJECT_NOT_FOUND). A user may not record consent for themself.
  The recipient is the recorder's own organisation unless it names another the purpose shares with;
- a lookup for the purpose releases only to the recipient the live consent names;
- **withdrawing** on the person's behalf: the recipient organisation that holds the consent, or the
  organisation that recorded it; no other organisation can end it (a withdrawal by another ends nothing,
  and says so: ``withdrawn: 0``).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.orgs import admitted
from hub.errors import BadUserInput, OwnRecord, PurposeNotGranted
from hub.records.consent import ConsentRecord, ConsentStore
from hub.types import SubjectKey
from linkage import NormalisedNino, subject_hash
from resolvers import arguments
from resolvers.context import RequestContext
from resolvers.identity import indexed_person
from resolvers.relationship import allowed_sources, require_held, require_relationship
from resolvers.sensitivity import tier
from resolvers.sources.base import SOURCE_NAMES
from resolvers.types import Purpose, PurposeArgument, describe_values

__all__ = ["ConsentMutation", "ConsentReceipt", "ConsentStatus"]


@strawberry.enum(description="Whether a consent lets the hub share.")
class ConsentStatus(Enum):
    LIVE = "live"
    WITHDRAWN = "withdrawn"


describe_values(
    ConsentStatus,
    {
        ConsentStatus.LIVE: "Recorded: the hub shares with the recipient until it lapses or is withdrawn.",
        ConsentStatus.WITHDRAWN: "Withdrawn: nothing more is shared for the purpose with the recipient.",
    },
)


@strawberry.type(
    description="What the hub now holds about a person's consent (never who the person is).",
    directives=tier("identity"),
)
class ConsentReceipt:
    purpose: Purpose = strawberry.field(description="The purpose the consent is for.")
    status: ConsentStatus = strawberry.field(description="Whether the consent now lets the hub share.")
    recipient_organisation: str | None = strawberry.field(
        description="The one organisation the consent lets the hub share with (null for a withdrawal)."
    )
    expires_at: dt.datetime | None = strawberry.field(description="When the consent lapses unless renewed.")
    notify_on_share: bool = strawberry.field(description="Whether the person is told of each share.")
    withdrawn: int = strawberry.field(
        description="How many live consents a withdrawal ended: only those your organisation holds as "
        "recipient or recorded."
    )


def _spec(ctx: RequestContext, purpose: Purpose, *, withdrawing: bool) -> tuple[ConsentStore, str]:
    spec = ctx.purpose
    if spec is None or spec.id != purpose.value or not spec.consent_required:
        raise BadUserInput(f"purpose {purpose.value} is not based on consent")
    may = spec.consent_recorders | (spec.org_types if withdrawing else frozenset())
    if ctx.caller.org_type not in may:
        raise PurposeNotGranted(
            f"your organisation type may not {'withdraw' if withdrawing else 'record'} consent for {purpose.value}",
            purpose=purpose.value,
        )
    return ctx.services.consent, spec.consent_renewal or "P1Y"


async def _recipient(ctx: RequestContext, purpose: Purpose, named: str | None) -> str:
    """The organisation the consent is to: the recorder's own, or another the purpose shares with."""
    if named is None or named == ctx.caller.org:
        return ctx.caller.org
    org = await ctx.services.orgs.get(named)
    spec = ctx.purpose
    assert spec is not None
    if org is None or not admitted(org, dt.date.today()) or org.org_type not in spec.org_types:
        raise BadUserInput(f"recipientOrganisation must be an organisation purpose {purpose.value} shares with")
    return org.org_id


async def _require_tie(ctx: RequestContext, nino: NormalisedNino) -> None:
    """The recorder's legitimate relationship with the person, judged as a lookup judges it; the user's own
    record refused."""
    if ctx.own_subject_known == subject_hash(ctx.services.key_ring, nino):
        raise OwnRecord("you may not record consent about yourself through the hub")
    indexed = await indexed_person(ctx, nino)
    if indexed is not None:
        if ctx.own_person_known is not None and indexed.person_key == ctx.own_person_known:
            raise OwnRecord("you may not record consent about yourself through the hub")
        every: dict[str, list[SubjectKey]] = {n: [("id", r) for r in ids] for n, ids in indexed.records.items()}
        keys = {n: every.get(n, []) for n in allowed_sources(ctx)}
    else:
        every = {n: [("nino", nino)] for n in SOURCE_NAMES}
        keys = {n: [("nino", nino)] for n in allowed_sources(ctx)}
    await require_relationship(ctx, every)
    await require_held(ctx, keys)


def _receipt(purpose: Purpose, record: ConsentRecord | None, *, withdrawn: int = 0) -> ConsentReceipt:
    return ConsentReceipt(
        purpose=purpose,
        status=ConsentStatus.LIVE if record is not None and record.withdrawn_at is None else ConsentStatus.WITHDRAWN,
        recipient_organisation=record.recipient_org if record is not None else None,
        expires_at=record.expires_at if record is not None else None,
        notify_on_share=record.notify_on_share if record is not None else False,
        withdrawn=withdrawn,
    )


@strawberry.type(directives=tier("identity"))
class ConsentMutation:
    @strawberry.mutation(
        description=(
            "Record a person's consent to share with one organisation (yours, or recipientOrganisation: one the "
            "purpose shares with) for a consent-based purpose, until the end of expiresOn (UTC) or for the "
            "register's renewal period, whichever is sooner. Needs a legitimate relationship with the person, "
            "as a lookup does (SUBJECT_NOT_FOUND otherwise, as for no such person). Audited."
        )
    )
    async def record_consent(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        nino: Annotated[str, strawberry.argument(description="The person's National Insurance number.")],
        notify_on_share: Annotated[
            bool,
            strawberry.argument(
                description="True when the person wants to be told each time their information is shared."
            ),
        ],
        recipient_organisation: Annotated[
            str | None,
            strawberry.argument(description="The organisation id the consent is to; null for your own organisation."),
        ] = None,
        expires_on: Annotated[
            dt.date | None,
            strawberry.argument(
                description="The last day the consent lasts (UTC), today or later; "
                "null for the register's renewal period."
            ),
        ] = None,
    ) -> ConsentReceipt:
        ctx = info.context
        store, renewal = _spec(ctx, purpose, withdrawing=False)
        if expires_on is not None and expires_on < dt.datetime.now(dt.UTC).date():
            raise BadUserInput("expiresOn is in the past: a consent lasts from today until a day to come")
        person = arguments.nino(nino)
        ctx.subjects.append(ctx.services.key_ring.hash_nino(person))
        recipient = await _recipient(ctx, purpose, recipient_organisation)
        await _require_tie(ctx, person)
        record = await store.record(
            subject_hash(ctx.services.key_ring, person),
            purpose.value,
            recipient_org=recipient,
            lasts=renewal,
            until=expires_on,
            notify_on_share=notify_on_share,
            org=ctx.caller.org,
            user_hash=ctx.user_hash,
        )
        return _receipt(purpose, record)

    @strawberry.mutation(
        description="Withdraw a person's consent on their behalf: nothing more is shared for the purpose with the "
        "recipient. Only the recipient organisation that holds the consent, or the organisation that recorded "
        "it, can withdraw it (recipientOrganisation: only the consent to that recipient). Audited."
    )
    async def withdraw_consent(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        nino: Annotated[str, strawberry.argument(description="The person's National Insurance number.")],
        recipient_organisation: Annotated[
            str | None,
            strawberry.argument(
                description="Withdraw only the consent to this organisation id; null "
                "for every consent your organisation holds."
            ),
        ] = None,
    ) -> ConsentReceipt:
        ctx = info.context
        store, _ = _spec(ctx, purpose, withdrawing=True)
        person = arguments.nino(nino)
        ctx.subjects.append(ctx.services.key_ring.hash_nino(person))
        withdrawn = await store.withdraw(
            subject_hash(ctx.services.key_ring, person),
            purpose.value,
            org=ctx.caller.org,
            recipient_org=recipient_organisation,
        )
        return _receipt(purpose, None, withdrawn=len(withdrawn))
