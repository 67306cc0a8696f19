"""The root of the GraphQL schema: the person lookup, by NINO or by demographics."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.types import Info

from hub.audit.tracing import NS, span
from hub.errors import (
    BadUserInput,
    ConsentRequired,
    InvalidNinoInput,
    LinkageUnavailable,
    MatchNeedsReview,
    NoLegitimateRelationship,
    OwnRecord,
    SubjectNotFound,
)
from hub.types import SubjectKey, subject_reference
from linkage import Band, Demographics, NormalisedNino, check_nino, subject_hash
from linkage.link import Decision, normalised_nino, person_key_for
from resolvers.audit import AuditMutation, AuditQuery
from resolvers.complaints import ComplaintMutation, ComplaintQuery
from resolvers.consent import ConsentMutation
from resolvers.context import RequestContext
from resolvers.corrections import CorrectionMutation, CorrectionQuery
from resolvers.interests import InterestMutation, InterestQuery
from resolvers.notice import NoticeQuery
from resolvers.notifications import NotificationMutation, NotificationQuery
from resolvers.review import ReviewMutation, ReviewQuery
from resolvers.sensitivity import tier
from resolvers.sources.social_care import merge
from resolvers.types import DwpRecord, HousingBenefitRecord, Purpose, SocialCareRecord

__all__ = ["Mutation", "Person", "PersonDemographics", "Query"]

SOURCE_ORDER = ("dwp", "hb", "social_care")
_SOURCE_FIELDS = {"dwp": "Person.dwp", "hb": "Person.housingBenefit", "social_care": "Person.socialCare"}


@strawberry.input(description="Who the person is, when there is no NINO (or it may be wrong).")
class PersonDemographics:
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None
    address_line1: str | None = None
    nhs_number: str | None = None


@strawberry.type(
    description="One person as the hub found them in the sources, seen for one purpose.", directives=tier("identity")
)
class Person:
    keys: strawberry.Private[dict[str, list[SubjectKey]]]
    subject_id: strawberry.ID = strawberry.field(
        description="This person's pseudonym for your organisation: stable for you, unjoinable by others."
    )

    async def _load(self, info: Info[RequestContext, None], source: str) -> list[Any]:
        keys = self.keys.get(source, [])
        if not keys:
            return []
        return [r for r in await info.context.loader(source).load_many(keys) if r is not None]

    @strawberry.field(
        description="What DWP holds about you. Null if DWP holds no record; an error if DWP did not answer."
    )
    async def dwp(self, info: Info[RequestContext, None]) -> DwpRecord | None:
        records = await self._load(info, "dwp")
        return records[0] if records else None

    @strawberry.field(
        description="What the councils' Housing Benefit teams hold about you.", directives=tier("benefit_status")
    )
    async def housing_benefit(self, info: Info[RequestContext, None]) -> HousingBenefitRecord | None:
        records = await self._load(info, "hb")
        return HousingBenefitRecord(claims=[c for r in records for c in r.claims]) if records else None

    @strawberry.field(
        description="What the councils' adult social care teams hold about you.", directives=tier("special_category")
    )
    async def social_care(self, info: Info[RequestContext, None]) -> SocialCareRecord | None:
        records = await self._load(info, "social_care")
        return merge(records) if records else None


def _allowed_sources(ctx: RequestContext) -> list[str]:
    """The sources whose Person field the purpose allows; DWP (the spine) when it allows none."""
    allowed = [name for name in SOURCE_ORDER if _SOURCE_FIELDS[name] in ctx.allowed_fields]
    return [n for n in (allowed or ["dwp"]) if n in ctx.services.sources]


async def _require_relationship(
    ctx: RequestContext, every: dict[str, list[SubjectKey]], *, sources: Sequence[str] | None = None
) -> None:
    """A council organisation may look up only people connected with its own area (as NHS Spine asks for
    a legitimate relationship): a claim or case at that council, or a home in its area, unless the
    purpose needs no such tie or the organisation is a national body.

    Judged on the sources the purpose may read, and before anything is read from them but the council
    and postcode: someone unknown and someone not connected with the area get the same refusal, so a
    council cannot probe who is known to a source, or to another council."""
    if ctx.area is None:
        return  # no tie asked: a national body, or a purpose that needs none
    council, districts = ctx.area
    if council is not None:
        for name in SOURCE_ORDER:
            keys = every.get(name, [])
            if not keys or name not in ctx.services.sources or name not in (sources or _allowed_sources(ctx)):
                continue
            ctx.identity_sources.add(name)
            found = await ctx.tie_loader(name).load_many(keys)
            if any(council in councils or not districts.isdisjoint(homes) for councils, homes in found):
                return
    raise NoLegitimateRelationship(
        "no one with these details is connected with your organisation's area (a claim, a case or a home "
        "there): a lookup needs a legitimate relationship"
    )


async def _exists(ctx: RequestContext, keys: dict[str, list[SubjectKey]]) -> None:
    """Raise unless some allowed source holds the person; a source that failed raises its own error.

    Judged on the purpose's own sources only: a lookup must not reveal that a person is known to a
    source (say, adult social care) the purpose has no business with."""
    names = [n for n in keys if keys[n]]
    results: list[Any] = await asyncio.gather(
        *(ctx.loader(n).load_many(keys[n]) for n in names), return_exceptions=True
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, Exception):
            raise r
    answered = [r for r in results if not isinstance(r, Exception)]
    if any(any(x is not None for x in r) for r in answered):
        return
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]  # a source that did not answer may hold the person: say why, not "not found"
    raise SubjectNotFound("no source this purpose may read holds this person")


def _keys_for(ctx: RequestContext, records: dict[str, list[str]]) -> dict[str, list[SubjectKey]]:
    return {n: [("id", rid) for rid in records.get(n, [])] for n in _allowed_sources(ctx)}


@strawberry.type(directives=tier("identity"))
class Query(ReviewQuery, NoticeQuery, AuditQuery, NotificationQuery, InterestQuery, CorrectionQuery, ComplaintQuery):
    @strawberry.field(
        description=(
            "Find a person by National Insurance number or, without one, by demographics, for a declared "
            "purpose. Only the fields the purpose allows your organisation may be selected; anything else "
            "refuses the whole operation. A demographic match that is not certain releases nothing "
            "(MATCH_NEEDS_REVIEW)."
        )
    )
    async def person(
        self,
        info: Info[RequestContext, None],
        purpose: Purpose,
        nino: str | None = None,
        demographics: PersonDemographics | None = None,
    ) -> Person | None:
        ctx = info.context
        if nino is None and demographics is None:
            raise BadUserInput("give a nino, or demographics when there is none")
        if ctx.purpose is not None and ctx.purpose.consent_required and demographics is not None:
            # The consent checked is the NINO's: details that could match someone else are not accepted.
            raise ConsentRequired(
                f"purpose {ctx.purpose.id} is based on the person's consent: look them up by NINO only",
                purpose=ctx.purpose.id,
            )
        if nino is not None:
            check = check_nino(nino)
            if check.nino is None:
                if demographics is None:
                    raise InvalidNinoInput(
                        f"invalid National Insurance number: {check.explanation}", reason=check.reason
                    )
            else:
                person = await _by_nino(ctx, check.nino, fallback=demographics is not None)
                if person is not None:
                    return person
        assert demographics is not None
        return await _by_demographics(ctx, demographics)


async def _by_nino(ctx: RequestContext, nino: str, *, fallback: bool) -> Person | None:
    keyed_nino = NormalisedNino(nino)
    ctx.subjects.append(ctx.services.key_ring.hash_nino(keyed_nino))
    if ctx.own_subject_known == subject_hash(ctx.services.key_ring, keyed_nino):
        # Refused before anything is read, and the audit record's reason flags it for the auditor.
        raise OwnRecord("you may not look up your own record through the hub")
    identity = ctx.services.identity
    with span("welfare_hub.link", attributes={f"{NS}.link.method": "nino"}) as link:
        indexed = await ctx.index_loader().load(keyed_nino) if identity is not None else None
        link.set_attribute(f"{NS}.link.method", "link_index" if indexed is not None else "nino")
        link.set_attribute(f"{NS}.link.band", "link" if indexed is not None else "source_nino")
    if indexed is not None:
        if ctx.own_person_known is not None and indexed.person_key == ctx.own_person_known:
            raise OwnRecord("you may not look up your own record through the hub")
        ctx.link_method = "link_index"
        keys = _keys_for(ctx, indexed.records)
        every: dict[str, list[SubjectKey]] = {n: [("id", r) for r in rids] for n, rids in indexed.records.items()}
        subject = subject_reference(person_key=indexed.person_key)
    else:
        # Not in the link index (not built yet, or a record newer than the last build): the sources'
        # own NINOs, as typed, normalised.
        ctx.link_method = "nino"
        keys = {n: [("nino", nino)] for n in _allowed_sources(ctx)}
        every = {n: [("nino", nino)] for n in ctx.services.sources}
        subject = subject_reference(nino=keyed_nino)
    try:
        await _require_relationship(ctx, every)
        await _exists(ctx, keys)
    except (SubjectNotFound, NoLegitimateRelationship):
        if fallback:  # the NINO may be wrong: the details given with it decide
            return None
        raise
    return Person(keys=keys, subject_id=strawberry.ID(ctx.services.key_ring.pseudonym(ctx.caller.org, subject)))


async def match_demographics(ctx: RequestContext, query: Demographics) -> tuple[Decision, NormalisedNino | None]:
    """The linkage step for details without a NINO (traced; the method, probability and model kept for the
    audit record): the decision, and for a link the spine record's NINO, which then names the person in
    the audit record as a NINO lookup would."""
    identity = ctx.services.identity
    if identity is None or identity.model is None:
        raise LinkageUnavailable("matching by demographics is not available: no linkage model is configured")
    if sum(v is not None for v in (query.given_name, query.family_name, query.dob)) < 2:
        raise BadUserInput("demographics need at least two of given name, family name and date of birth")
    spine = ctx.services.sources["dwp"]
    with span("welfare_hub.link", attributes={f"{NS}.link.method": "probabilistic"}) as link:
        candidates = await spine.find_candidates([query])
        ctx.identity_sources.add("dwp")
        decision = identity.decide(query, candidates)
        assert decision is not None
        link.set_attributes(
            {
                f"{NS}.link.band": decision.band.value,
                f"{NS}.link.candidates": len(candidates),
                f"{NS}.link.model_version": identity.model.version,
            }
        )
        if decision.chosen is not None:
            link.set_attribute(f"{NS}.link.probability", decision.chosen.probability)
    ctx.link_method = "probabilistic"
    ctx.model_version = identity.model.version
    if decision.chosen is not None:
        ctx.link_probability = decision.chosen.probability
    if decision.band is not Band.LINK or decision.chosen is None:
        return decision, None
    chosen_id = decision.chosen.spine_record_id
    normalised = normalised_nino(next((c.nino for _, c in candidates if c.record_id == chosen_id and c.nino), None))
    if normalised is not None:
        ctx.subjects.append(ctx.services.key_ring.hash_nino(normalised))
    return decision, normalised


async def _by_demographics(ctx: RequestContext, given: PersonDemographics) -> Person:
    query = Demographics(
        given_name=given.given_name,
        family_name=given.family_name,
        dob=given.date_of_birth,
        postcode=given.postcode,
        address_line1=given.address_line1,
        nhs_number=given.nhs_number,
    )
    decision, normalised = await match_demographics(ctx, query)
    if decision.band is Band.REVIEW:
        raise MatchNeedsReview(
            "the details fit more than one person, or one not clearly enough: nothing is released; "
            "add a NINO or more details, or ask for a clerical check"
        )
    if decision.band is Band.NON_LINK or decision.chosen is None:
        raise SubjectNotFound("no one in the sources matches these details")
    chosen_id = decision.chosen.spine_record_id
    # A user's own record is refused however it is looked for.
    if normalised is not None and ctx.own_subject_known == subject_hash(ctx.services.key_ring, normalised):
        raise OwnRecord("you may not look up your own record through the hub")
    person_key = person_key_for(chosen_id)
    if ctx.own_person_known is not None and person_key == ctx.own_person_known:
        raise OwnRecord("you may not look up your own record through the hub")
    identity = ctx.services.identity
    assert identity is not None
    indexed = await identity.by_person(person_key)
    records = dict(indexed.records) if indexed else {}
    records.setdefault("dwp", [decision.chosen.spine_record_id])
    keys = _keys_for(ctx, records)
    await _require_relationship(ctx, {n: [("id", r) for r in rids] for n, rids in records.items()})
    await _exists(ctx, keys)
    return Person(
        keys=keys,
        subject_id=strawberry.ID(
            ctx.services.key_ring.pseudonym(ctx.caller.org, subject_reference(person_key=person_key))
        ),
    )


@strawberry.type(directives=tier("identity"))
class Mutation(
    ReviewMutation,
    ConsentMutation,
    AuditMutation,
    NotificationMutation,
    InterestMutation,
    CorrectionMutation,
    ComplaintMutation,
):
    pass
