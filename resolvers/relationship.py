"""What a lookup may reach before anything is released: the sources a purpose may read, the legitimate
relationship a council must have with the person, and whether any of those sources holds them.

Both checks run before a single field is read, and both are judged only on the sources the purpose may
read, so that a refusal never tells the caller who is known to a source (say, adult social care) it has
no business with, or to another council. The person lookup, interests and notifications share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from hub.errors import NoLegitimateRelationship, SubjectNotFound
from hub.types import SubjectKey
from linkage.link import person_key_for
from resolvers.context import RequestContext
from resolvers.sources.base import SOURCE_NAMES

__all__ = ["allowed_sources", "council_held", "records_of", "require_held", "require_relationship"]

#: The Person field through which each source's data is released.
_SOURCE_FIELDS = {"dwp": "Person.dwp", "hb": "Person.housingBenefit", "social_care": "Person.socialCare"}


def allowed_sources(ctx: RequestContext) -> list[str]:
    """The sources whose Person field the purpose allows; DWP (the spine) when it allows none."""
    allowed: list[str] = [name for name in SOURCE_NAMES if _SOURCE_FIELDS[name] in ctx.allowed_fields]
    return allowed or ["dwp"]


async def require_relationship(
    ctx: RequestContext, every: Mapping[str, Sequence[SubjectKey]], *, sources: Sequence[str] | None = None
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
        for name in SOURCE_NAMES:
            keys = every.get(name, [])
            if not keys or name not in (sources or allowed_sources(ctx)):
                continue
            ctx.identity_sources.add(name)
            found = await ctx.tie_loader(name).load_many(keys)
            if any(council in councils or not districts.isdisjoint(homes) for councils, homes in found):
                return
    raise NoLegitimateRelationship(
        "no one with these details is connected with your organisation's area (a claim, a case or a home "
        "there): a lookup needs a legitimate relationship"
    )


async def require_held(ctx: RequestContext, keys: Mapping[str, Sequence[SubjectKey]]) -> None:
    """Raise unless some allowed source holds the person; a source that failed raises its own error.

    Judged on the purpose's own sources only, and on the records of them the caller may be given (a
    council's own): a lookup must not reveal that a person is known to a source (say, adult social care)
    the purpose has no business with, or to another council's."""
    names = [n for n in keys if keys[n]]
    results: list[Sequence[object | None] | BaseException] = await asyncio.gather(
        *(ctx.loader(n).load_many(keys[n]) for n in names), return_exceptions=True
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, Exception):
            raise r
    # The sources answer only what the caller may be given (the ask's councils): a record here is held.
    answered = [[x for x in r if x is not None] for r in results if not isinstance(r, BaseException)]
    if any(answered):
        return
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]  # a source that did not answer may hold the person: say why, not "not found"
    raise SubjectNotFound("no source this purpose may read holds this person")


async def records_of(ctx: RequestContext, spine_record_id: str) -> dict[str, list[str]]:
    """Every source's record ids of the person whose DWP record this is (the link index's, else DWP's alone):
    one spelling for the lookups and the notifications that name a person by their details."""
    indexed = await ctx.services.identity.by_person(person_key_for(spine_record_id))
    found = dict(indexed.records) if indexed else {}
    found.setdefault("dwp", [spine_record_id])
    return found


async def council_held(ctx: RequestContext) -> Callable[[str | None], bool]:
    """Which councils' records may be released to the caller (:meth:`RequestContext.council_scope`), as a
    test: the sources answer only those, and the hub checks again wherever a record says whose it is."""
    scope = await ctx.council_scope()
    return lambda council: scope is None or (council is not None and council in scope)
