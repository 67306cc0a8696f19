"""The root of the GraphQL schema: the person lookup."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from strawberry.types import Info

from hub.errors import InvalidNinoInput, SubjectNotFound
from linkage import NormalisedNino, check_nino
from resolvers.context import RequestContext
from resolvers.types import DwpRecord, HousingBenefitRecord, Purpose, SocialCareRecord

__all__ = ["Person", "Query"]

SOURCE_ORDER = ("dwp", "hb", "social_care")


@strawberry.type(description="One person as the hub found them in the sources, seen for one purpose.")
class Person:
    nino: strawberry.Private[NormalisedNino]
    subject_id: strawberry.ID = strawberry.field(
        description="This person's pseudonym for your organisation: stable for you, unjoinable by others."
    )

    @strawberry.field(description="From DWP. Null if DWP holds no record; an error if DWP did not answer.")
    async def dwp(self, info: Info[RequestContext, None]) -> DwpRecord | None:
        result: DwpRecord | None = await info.context.loader("dwp").load(self.nino)
        return result

    @strawberry.field(description="From the councils' Housing Benefit teams.")
    async def housing_benefit(self, info: Info[RequestContext, None]) -> HousingBenefitRecord | None:
        result: HousingBenefitRecord | None = await info.context.loader("hb").load(self.nino)
        return result

    @strawberry.field(description="From the councils' adult social care teams.")
    async def social_care(self, info: Info[RequestContext, None]) -> SocialCareRecord | None:
        result: SocialCareRecord | None = await info.context.loader("social_care").load(self.nino)
        return result


@strawberry.type
class Query:
    @strawberry.field(
        description=(
            "Find a person by National Insurance number, for a declared purpose. Only the fields the purpose "
            "allows your organisation may be selected; anything else refuses the whole operation."
        )
    )
    async def person(self, info: Info[RequestContext, None], nino: str, purpose: Purpose) -> Person | None:
        ctx = info.context
        check = check_nino(nino)
        if check.nino is None:
            raise InvalidNinoInput(f"invalid National Insurance number: {check.explanation}", reason=check.reason)
        keyed = ctx.services.key_ring.hash_nino(check.nino)
        ctx.subjects.append(keyed)
        # Linkage by NINO, reading only the sources this purpose may see: a lookup must not reveal that
        # a person is known to a source (say, adult social care) the purpose has no business with.
        names = [n for n in _sources_for(ctx) if n in ctx.services.sources]
        results: list[Any] = await asyncio.gather(
            *(ctx.loader(name).load(check.nino) for name in names), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r
        answered = [r for r in results if not isinstance(r, Exception)]
        if answered and all(r is None for r in answered):
            if len(answered) == len(results):
                raise SubjectNotFound("no source this purpose may read holds a person with this NINO")
            # Some source did not answer: it may hold the person, so say why rather than "not found".
            raise next(r for r in results if isinstance(r, Exception))
        if not answered:
            raise next(r for r in results if isinstance(r, Exception))
        return Person(
            nino=check.nino,
            subject_id=strawberry.ID(ctx.services.key_ring.pseudonym(ctx.caller.org, f"nino:{check.nino}")),
        )


_SOURCE_FIELDS = {"dwp": "Person.dwp", "hb": "Person.housingBenefit", "social_care": "Person.socialCare"}


def _sources_for(ctx: RequestContext) -> list[str]:
    """The sources whose Person field the purpose allows; DWP (the spine) when it allows none."""
    allowed = [name for name in SOURCE_ORDER if _SOURCE_FIELDS[name] in ctx.allowed_fields]
    return allowed or ["dwp"]
