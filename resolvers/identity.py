"""The identity step: who the details given name, before any source is read for them.

By NINO, the link index (batched per request) names the person and their records in every source; a NINO
the index does not know yet is looked for in the sources' own NINO columns. By demographics, the spine's
candidates sharing a blocking key are scored by the linkage model, and only a certain link names anyone.
Each step is traced (the method and band, never the details), and what the audit record needs (method,
probability, model version) is kept on the request context.
"""

from __future__ import annotations

from hub.audit.tracing import NS, span
from hub.errors import BadUserInput, LinkageUnavailable
from hub.records.links import IndexedPerson
from linkage import Band, Demographics, NormalisedNino
from linkage.link import Decision, normalised_nino
from resolvers.context import RequestContext

__all__ = ["indexed_person", "match_demographics"]


async def indexed_person(ctx: RequestContext, nino: NormalisedNino) -> IndexedPerson | None:
    """The person the link index knows by this NINO, or None (the index not built yet, or a record newer
    than the last build: the sources' own NINOs then decide)."""
    with span("welfare_hub.link", attributes={f"{NS}.link.method": "nino"}) as link:
        indexed = await ctx.index_loader().load(nino)
        link.set_attribute(f"{NS}.link.method", "link_index" if indexed is not None else "nino")
        link.set_attribute(f"{NS}.link.band", "link" if indexed is not None else "source_nino")
    return indexed


async def match_demographics(ctx: RequestContext, query: Demographics) -> tuple[Decision, NormalisedNino | None]:
    """The linkage step for details without a NINO (traced; the method, probability and model kept for the
    audit record): the decision, and for a link the spine record's NINO, which then names the person in
    the audit record as a NINO lookup would."""
    identity = ctx.services.identity
    if identity.model is None:
        raise LinkageUnavailable("matching by demographics is not available: no linkage model is configured")
    if sum(v is not None for v in (query.given_name, query.family_name, query.dob)) < 2:
        raise BadUserInput("demographics need at least two of given name, family name and date of birth")
    spine = ctx.services.sources.dwp
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
