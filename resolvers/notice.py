"""``privacyNotice``: the privacy notice as data, generated from the purpose register the hub enforces.

Public information, not personal data: any authenticated caller may read it, with no purpose, and its
fields are outside every allow-list (the guard exempts exactly the coordinates of these types).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.notice import field_descriptions, notice
from resolvers.context import RequestContext
from resolvers.types import Purpose

__all__ = ["PUBLIC_ROOTS", "PUBLIC_TYPES", "NoticeQuery", "is_public"]


@strawberry.type(description="One field a purpose shares, in plain words.")
class SharedField:
    coordinate: str = strawberry.field(description="The field in this schema (Type.field).")
    description: str = strawberry.field(description="What it is, for the person.")


@strawberry.type(description="What is shared for one purpose, with whom, why, on what legal basis, for how long.")
class PurposeNotice:
    purpose: Purpose = strawberry.field(description="The purpose this part of the notice describes.")
    title: str = strawberry.field(description="The purpose in plain words.")
    summary: str = strawberry.field(description="What is shared and why, written for the person.")
    recipients: list[str] = strawberry.field(description="Who receives it.")
    shared: list[SharedField] = strawberry.field(description="Exactly the fields the purpose may release.")
    legal_basis: str = strawberry.field(description="The statute that allows it.")
    lawful_basis: str = strawberry.field(description="The UK GDPR Article 6 basis.")
    special_category_condition: str | None = strawberry.field(description="The UK GDPR Article 9 condition.")
    retention: str = strawberry.field(description="How long the recipient may keep it.")
    consent_required: bool = strawberry.field(
        description="True when sharing for this purpose rests on the person's consent (and stops without it)."
    )
    consent_renewal: str | None = strawberry.field(description="How long a consent lasts.")
    notified_on_each_share: bool = strawberry.field(
        description="True when the person is told each time their information is shared for this purpose."
    )


@strawberry.type(description="How people's information is shared through the hub, and how to complain.")
class PrivacyNotice:
    controller: str = strawberry.field(
        description="Who is responsible for the hub (the data controller), and how to reach them."
    )
    complaints: str = strawberry.field(description="How to complain about how your information was shared.")
    regulator: str = strawberry.field(description="The regulator you may complain to (the Information Commissioner).")
    purposes: list[PurposeNotice] = strawberry.field(
        description="Each purpose described (one, when a purpose was asked for)."
    )


@strawberry.type
class NoticeQuery:
    @strawberry.field(
        description="The privacy notice, from the purpose register the hub enforces (all purposes, or one)."
    )
    def privacy_notice(
        self,
        info: Info[RequestContext, None],
        purpose: Annotated[
            Purpose | None,
            strawberry.argument(description="The one purpose to describe; null for every purpose in the register."),
        ] = None,
    ) -> PrivacyNotice:
        register = info.context.services.register
        items = notice(register, field_descriptions(info.schema._schema), purpose.value if purpose else None)
        return PrivacyNotice(
            controller=register.notice["controller"],
            complaints=register.notice["complaints"],
            regulator=register.notice["regulator"],
            purposes=[
                PurposeNotice(
                    **{
                        **dataclasses.asdict(p),
                        "purpose": Purpose(p.purpose),
                        "recipients": list(p.recipients),
                        "shared": [SharedField(coordinate=f.coordinate, description=f.description) for f in p.shared],
                    }
                )
                for p in items
            ],
        )


#: Types any authenticated caller may select, with no purpose: the notice and the transparency report's
#: counts (resolvers.audit), nothing else.
PUBLIC_TYPES = frozenset(
    {
        "PrivacyNotice",
        "PurposeNotice",
        "SharedField",
        "TransparencyReport",
        "DecisionCounts",
        "Count",
        # Corrections (resolvers.corrections): each organisation's own, checked against the audit log.
        "Correction",
        "CorrectionPage",
        "CorrectionNotice",
        "CorrectionNoticePage",
        # Complaints (resolvers.complaints): only those the caller's organisation is involved in.
        "Complaint",
        "ComplaintPage",
        "ComplaintResponse",
        "ComplaintPart",
    }
)
PUBLIC_ROOTS = frozenset(
    {
        "privacyNotice",
        "transparencyReport",
        "reportInaccuracy",
        "correctionNotices",
        "correctionsWeReported",
        "complaintsInvolvingUs",
        "respondToComplaint",
    }
)


def is_public(coordinate: str) -> bool:
    type_name, _, field = coordinate.partition(".")
    return type_name in PUBLIC_TYPES or (type_name in ("Query", "Mutation") and field in PUBLIC_ROOTS)
