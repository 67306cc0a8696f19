"""The person lookup: ``Query.person``, by NINO or by demographics, and the ``Person`` it answers with.

A lookup names the person first (:mod:`resolvers.identity`), refuses the user's own record, checks the
legitimate relationship and that some source the purpose may read holds the person
(:mod:`resolvers.relationship`), and only then returns a ``Person``: the keys of their records in each
source the purpose allows, and their pseudonym for the caller's organisation. The sources are read when
(and only if) a ``Person`` field is selected, batched per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from hub.errors import (
    BadUserInput,
    ConsentRequired,
    InvalidNinoInput,
    MatchNeedsReview,
    NoLegitimateRelationship,
    OwnRecord,
    SourceUnavailable,
    SubjectNotFound,
)
from hub.types import SubjectKey, subject_reference
from linkage import Band, Demographics, NormalisedNino, check_nino, subject_hash
from linkage.link import person_key_for
from resolvers.context import RequestContext
from resolvers.identity import indexed_person, match_demographics
from resolvers.relationship import allowed_sources, council_held, records_of, require_held, require_relationship
from resolvers.sensitivity import tier
from resolvers.sources import records
from resolvers.sources.base import SOURCE_NAMES
from resolvers.sources.contract import merge_care, merge_claims
from resolvers.types import DwpRecord, HousingBenefitRecord, PurposeArgument, SocialCareRecord

__all__ = ["Person", "PersonDemographics", "PersonQuery"]

T = TypeVar("T")


@strawberry.input(description="Who the person is, when there is no NINO (or it may be wrong).")
class PersonDemographics:
    given_name: str | None = strawberry.field(default=None, description="First name; null if not known.")
    family_name: str | None = strawberry.field(default=None, description="Surname; null if not known.")
    date_of_birth: dt.date | None = strawberry.field(default=None, description="Date of birth; null if not known.")
    postcode: str | None = strawberry.field(
        default=None, description="Postcode of the current address; null if not known."
    )
    address_line1: str | None = strawberry.field(
        default=None, description="First line of the current address; null if not known."
    )
    nhs_number: str | None = strawberry.field(
        default=None,
        description="NHS number (10 digits; spaces and hyphens allowed); null if not known. It corroborates the "
        "match for special-category data.",
    )


def _held(found: Sequence[T | None]) -> list[T]:
    return [r for r in found if r is not None]


@strawberry.type(
    description="One person as the hub found them in the sources, seen for one purpose.", directives=tier("identity")
)
class Person:
    keys: strawberry.Private[dict[str, list[SubjectKey]]]
    subject_id: strawberry.ID = strawberry.field(
        description="This person's pseudonym for your organisation: stable for you, unjoinable by others."
    )

    @strawberry.field(
        description="What DWP holds about you. Null if DWP holds no record; an error if DWP did not answer.",
        graphql_type=DwpRecord | None,
    )
    async def dwp(self, info: Info[RequestContext, None]) -> records.DwpRecord | None:
        keys = self.keys.get("dwp", [])
        found = _held(await info.context.loader("dwp").load_many(keys)) if keys else []
        return found[0] if found else None

    @strawberry.field(
        description="What the councils' Housing Benefit teams hold about you.",
        directives=tier("benefit_status"),
        graphql_type=HousingBenefitRecord | None,
    )
    async def housing_benefit(self, info: Info[RequestContext, None]) -> records.HousingBenefitRecord | None:
        keys = self.keys.get("hb", [])
        found = _held(await info.context.loader("hb").load_many(keys)) if keys else []
        # The source answers only the claims of the councils in scope (another council's claims are that
        # council's to share); where a claim says whose it is, the hub holds it to that as well.
        ours = await council_held(info.context)
        if any(c.council_code is not None and not ours(c.council_code) for r in found for c in r.claims or ()):
            raise SourceUnavailable("hb", "source hb answered outside the councils it was asked about")
        return merge_claims(found)

    @strawberry.field(
        description="What the councils' adult social care teams hold about you.",
        directives=tier("special_category"),
        graphql_type=SocialCareRecord | None,
    )
    async def social_care(self, info: Info[RequestContext, None]) -> records.SocialCareRecord | None:
        keys = self.keys.get("social_care", [])
        found = _held(await info.context.loader("social_care").load_many(keys)) if keys else []
        # Another council's care records are that council's to share: the source answers only those in scope.
        ours = await council_held(info.context)
        if any(not ours(c) for r in found for c in r.council_codes):
            raise SourceUnavailable(
                "social_care", "source social_care answered outside the councils it was asked about"
            )
        return merge_care(found) if found else None


@strawberry.type(directives=tier("identity"))
class PersonQuery:
    @strawberry.field(
        description=(
            "Find a person by National Insurance number or, without one, by demographics, for a declared "
            "purpose. Only the fields the purpose allows your organisation may be selected; anything else "
            "refuses the whole operation. Someone unknown, not connected with your area, or matched by "
            "details without certainty is one answer: SUBJECT_NOT_FOUND, and nothing is released."
        )
    )
    async def person(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        nino: Annotated[
            str | None,
            strawberry.argument(description="The person's National Insurance number; null when you do not have it."),
        ] = None,
        demographics: Annotated[
            PersonDemographics | None,
            strawberry.argument(
                description="Who the person is by their details: used when there is "
                "no NINO, or when the NINO finds no one."
            ),
        ] = None,
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
                person = await by_nino(ctx, check.nino, fallback=demographics is not None)
                if person is not None:
                    return person
        assert demographics is not None
        return await by_demographics(ctx, demographics)


def _keys_for(ctx: RequestContext, linked: dict[str, list[str]]) -> dict[str, list[SubjectKey]]:
    """The record ids to read, in the sources the purpose allows."""
    return {n: [("id", rid) for rid in linked.get(n, [])] for n in allowed_sources(ctx)}


async def by_nino(ctx: RequestContext, nino: str, *, fallback: bool) -> Person | None:
    """The person with this NINO; None (``fallback``: the details given with it decide) when no source the
    purpose may read holds them, or they are not connected with the caller's area."""
    keyed_nino = NormalisedNino(nino)
    named = ctx.services.key_ring.hash_nino(keyed_nino)
    ctx.subjects.append(named)
    if ctx.own_subject_known == subject_hash(ctx.services.key_ring, keyed_nino):
        # Refused before anything is read, and the audit record's reason flags it for the auditor.
        raise OwnRecord("you may not look up your own record through the hub")
    indexed = await indexed_person(ctx, keyed_nino)
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
        keys = {n: [("nino", nino)] for n in allowed_sources(ctx)}
        every = {n: [("nino", nino)] for n in SOURCE_NAMES}
        subject = subject_reference(nino=keyed_nino)
    try:
        await require_relationship(ctx, every)
        await require_held(ctx, keys)
    except (SubjectNotFound, NoLegitimateRelationship):
        if fallback:  # the NINO may be wrong: the details given with it decide
            # ... and the NINO's owner was not the subject: their subject access report must not list this.
            ctx.subjects.remove(named)
            ctx.link_method = None
            return None
        raise
    return Person(keys=keys, subject_id=strawberry.ID(ctx.services.key_ring.pseudonym(ctx.caller.org, subject)))


async def by_demographics(ctx: RequestContext, given: PersonDemographics) -> Person:
    """The person these details name, if the linkage model is certain; else "not found" (audited as the
    review or non-link band)."""
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
        # Answered as "not found" (MatchNeedsReview's public code), audited as the review band.
        raise MatchNeedsReview("the details fit more than one person, or one not clearly enough")
    if decision.band is Band.NON_LINK or decision.chosen is None:
        raise SubjectNotFound("no one in the sources matches these details")
    chosen_id = decision.chosen.spine_record_id
    # A user's own record is refused however it is looked for.
    if normalised is not None and ctx.own_subject_known == subject_hash(ctx.services.key_ring, normalised):
        raise OwnRecord("you may not look up your own record through the hub")
    person_key = person_key_for(chosen_id)
    if ctx.own_person_known is not None and person_key == ctx.own_person_known:
        raise OwnRecord("you may not look up your own record through the hub")
    found = await records_of(ctx, chosen_id)
    keys = _keys_for(ctx, found)
    await require_relationship(ctx, {n: [("id", r) for r in rids] for n, rids in found.items()})
    await require_held(ctx, keys)
    return Person(
        keys=keys,
        subject_id=strawberry.ID(
            ctx.services.key_ring.pseudonym(ctx.caller.org, subject_reference(person_key=person_key))
        ),
    )
