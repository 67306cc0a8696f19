"""Consent mutations: an organisation the register allows records, or withdraws, a person's consent to a
consent-based purpose. The person is named by NINO (hashed on the way in; never echoed back)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from hub.errors import BadUserInput, PurposeNotGranted
from hub.records.consent import ConsentRecord, ConsentStore
from linkage import subject_hash
from resolvers import arguments
from resolvers.context import RequestContext
from resolvers.sensitivity import tier
from resolvers.types import Purpose

__all__ = ["ConsentMutation", "ConsentReceipt"]


@strawberry.type(
    description="What the hub now holds about a person's consent (never who the person is).",
    directives=tier("identity"),
)
class ConsentReceipt:
    purpose: Purpose = strawberry.field(description="The purpose the consent is for.")
    status: str = strawberry.field(description="live (recorded) or withdrawn.")
    expires_at: dt.datetime | None = strawberry.field(description="When the consent lapses unless renewed.")
    notify_on_share: bool = strawberry.field(description="Whether the person is told of each share.")
    withdrawn: int = strawberry.field(description="How many live consents a withdrawal ended.")


def _subject(ctx: RequestContext, purpose: Purpose, nino: str) -> tuple[ConsentStore, str, str]:
    spec = ctx.purpose
    if spec is None or spec.id != purpose.value or not spec.consent_required:
        raise BadUserInput(f"purpose {purpose.value} is not based on consent")
    if ctx.caller.org_type not in spec.consent_recorders:
        raise PurposeNotGranted(
            f"your organisation type may not record consent for {purpose.value}", purpose=purpose.value
        )
    person = arguments.nino(nino)
    return ctx.services.consent, subject_hash(ctx.services.key_ring, person), spec.consent_renewal or "P1Y"


def _receipt(purpose: Purpose, record: ConsentRecord | None, *, withdrawn: int = 0) -> ConsentReceipt:
    return ConsentReceipt(
        purpose=purpose,
        status="live" if record is not None and record.withdrawn_at is None else "withdrawn",
        expires_at=record.expires_at if record is not None else None,
        notify_on_share=record.notify_on_share if record is not None else False,
        withdrawn=withdrawn,
    )


@strawberry.type(directives=tier("identity"))
class ConsentMutation:
    @strawberry.mutation(
        description=(
            "Record a person's consent to a consent-based purpose (it lasts the register's renewal period). Audited."
        )
    )
    async def record_consent(
        self, info: Info[RequestContext, None], purpose: Purpose, nino: str, notify_on_share: bool
    ) -> ConsentReceipt:
        ctx = info.context
        store, subject, renewal = _subject(ctx, purpose, nino)
        user_hash = ctx.user_hash
        record = await store.record(
            subject,
            purpose.value,
            lasts=renewal,
            notify_on_share=notify_on_share,
            org=ctx.caller.org,
            user_hash=user_hash,
        )
        return _receipt(purpose, record)

    @strawberry.mutation(description="Withdraw a person's consent: nothing more is shared for the purpose. Audited.")
    async def withdraw_consent(self, info: Info[RequestContext, None], purpose: Purpose, nino: str) -> ConsentReceipt:
        ctx = info.context
        store, subject, _ = _subject(ctx, purpose, nino)
        withdrawn = await store.withdraw(subject, purpose.value, org=ctx.caller.org)
        return _receipt(purpose, None, withdrawn=len(withdrawn))
