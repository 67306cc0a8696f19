"""The identity step: who the details given name, before any source is read for them.

By NINO, the link index (batched per request) names the person and their records in every source; a NINO
the index does not know yet is looked for in the sources' own NINO columns. By demographics, the spine's
candidates sharing a blocking key are scored by the linkage model, and only a certain link names anyone.
Each step is traced (the method and band, never the details), and what the audit record needs (method,
probability, model version) is kept on the request context.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re

from hub.audit.tracing import NS, span
from hub.errors import BadUserInput, LinkageUnavailable, MatchNeedsReview
from hub.metrics import LINK_DECISIONS
from hub.records.links import IndexedPerson
from hub.types import TIERS
from linkage import Band, Demographics, NormalisedNino, is_placeholder_dob
from linkage.link import Decision, normalised_nino
from linkage.normalise import normalise_name, normalise_postcode
from resolvers.context import RequestContext
from resolvers.sources.contract import LINKAGE_PURPOSE

__all__ = ["check_identification", "indexed_person", "match_demographics"]

#: The earliest date of birth the hub accepts: no one alive, or in the sources, was born before it.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
_LONGEST_NAME = 100  # characters of a given or family name; longer is not a name
_NHS_NUMBER = re.compile(r"[0-9]{10}")
_UK_POSTCODE = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}")


def _nhs_number_valid(value: str) -> bool:
    """Ten digits whose modulus-11 check digit is right (NHS Data Dictionary)."""
    digits = re.sub(r"[\s-]", "", value)
    if not _NHS_NUMBER.fullmatch(digits):
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    return (0 if check == 11 else check) == int(digits[9]) and check != 10


def _corroborated(query: Demographics, chosen: Demographics | None) -> bool:
    """Whether the corroborating detail given (a postcode, an NHS number) is the linked record's own."""
    if chosen is None:
        return False
    postcode = normalise_postcode(query.postcode)
    if postcode is not None and postcode == normalise_postcode(chosen.postcode):
        return True
    given, held = (re.sub(r"[\s-]", "", n) if n else None for n in (query.nhs_number, chosen.nhs_number))
    return given is not None and given == held


def check_identification(query: Demographics, tier: str, *, today: dt.date | None = None) -> None:
    """Raise BadUserInput unless the details identify someone as strongly as the purpose's tier needs.

    Only real values count: a name with a letter in it (not blank, not punctuation), a date of birth
    between 1900 and today, a UK postcode of the right shape, an NHS number whose check digit holds. What
    is needed rises with the tier:

    - ``identity``, ``benefit_status``: two of given name, family name and date of birth;
    - ``financial``: all three;
    - ``special_category``: all three and a corroborating detail (a UK postcode or a valid NHS number),
      which must then be the linked record's own (:func:`match_demographics`): a postcode DWP holds for the
      person, or their NHS number where the spine holds one; otherwise the match is not certain.
    """
    today = today or dt.date.today()
    for name in (query.given_name, query.family_name):
        if name is not None and len(name) > _LONGEST_NAME:
            raise BadUserInput(f"a name may be at most {_LONGEST_NAME} characters")
    dob = query.dob if isinstance(query.dob, dt.date) else None
    if dob is not None and not EARLIEST_BIRTH <= dob <= today:
        raise BadUserInput(f"a date of birth must be between {EARLIEST_BIRTH.isoformat()} and today")
    given = normalise_name(query.given_name) is not None
    family = normalise_name(query.family_name) is not None
    # A placeholder (1900-01-01 and the like) is what systems write for "not known": it identifies no one.
    core = given + family + (dob is not None and not is_placeholder_dob(dob))
    postcode = normalise_postcode(query.postcode)
    corroborated = (postcode is not None and _UK_POSTCODE.fullmatch(postcode) is not None) or (
        query.nhs_number is not None and _nhs_number_valid(query.nhs_number)
    )
    level = TIERS.index(tier) if tier in TIERS else len(TIERS) - 1
    if level >= TIERS.index("special_category"):
        if core < 3 or not corroborated:
            raise BadUserInput(
                "special-category data needs given name, family name and date of birth, and a UK postcode "
                "or a valid NHS number, to be sure of the person"
            )
    elif level >= TIERS.index("financial"):
        if core < 3:
            raise BadUserInput("financial data needs given name, family name and date of birth")
    elif core < 2:
        raise BadUserInput(
            "demographics need at least two of given name, family name and date of birth (a blank name does not count)"
        )


async def indexed_person(ctx: RequestContext, nino: NormalisedNino) -> IndexedPerson | None:
    """The person the link index knows by this NINO, or None (the index not built yet, or a record newer
    than the last build: the sources' own NINOs then decide)."""
    with span("welfare_hub.link", attributes={f"{NS}.link.method": "nino"}) as link:
        indexed = await ctx.index_loader().load(nino)
        method, band = ("link_index", "link") if indexed is not None else ("nino", "source_nino")
        if indexed is not None and indexed.ambiguous:
            band = "review"
        link.set_attribute(f"{NS}.link.method", method)
        link.set_attribute(f"{NS}.link.band", band)
    LINK_DECISIONS.add(1, _decided(method, band))
    if indexed is not None and indexed.ambiguous:
        # DWP holds the NINO for more than one person: answered as "not found" until a person decides.
        raise MatchNeedsReview("the NINO is held for more than one person")
    return indexed


@functools.lru_cache(maxsize=64)
def _decided(method: str, band: str) -> dict[str, str]:
    return {f"{NS}.link.method": method, f"{NS}.link.band": band}


async def match_demographics(ctx: RequestContext, query: Demographics) -> tuple[Decision, NormalisedNino | None]:
    """The linkage step for details without a NINO (traced; the method, probability and model kept for the
    audit record): the decision, and for a link the spine record's NINO, which then names the person in
    the audit record as a NINO lookup would."""
    identity = ctx.services.identity
    if identity.model is None:
        raise LinkageUnavailable("matching by demographics is not available: no linkage model is configured")
    tier = ctx.purpose.tier if ctx.purpose is not None else TIERS[-1]
    check_identification(query, tier)
    spine = ctx.services.sources.dwp
    with span("welfare_hub.link", attributes={f"{NS}.link.method": "probabilistic"}) as link:
        candidates = await spine.find_candidates([query], ctx.hub_ask(LINKAGE_PURPOSE, {}))
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
    LINK_DECISIONS.add(1, _decided("probabilistic", decision.band.value))
    ctx.link_method = "probabilistic"
    ctx.model_version = identity.model.version
    if decision.chosen is not None:
        ctx.link_probability = decision.chosen.probability
    if decision.band is not Band.LINK or decision.chosen is None:
        return decision, None
    chosen_id = decision.chosen.spine_record_id
    chosen = next((c for _, c in candidates if c.record_id == chosen_id), None)
    if tier == "special_category" and not _corroborated(query, chosen):
        # Present is not enough: the corroborating detail must be the person's own. Not certain, then.
        return dataclasses.replace(decision, band=Band.REVIEW), None
    normalised = normalised_nino(next((c.nino for _, c in candidates if c.record_id == chosen_id and c.nino), None))
    if normalised is not None:
        ctx.subjects.append(ctx.services.key_ring.hash_nino(normalised))
    return decision, normalised
