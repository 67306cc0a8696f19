"""The three sources read straight from their PostgreSQL databases: the adapters the service runs with.

One call builds them over the service's pools, each under the same timeout and with the same span
factory, typed as :class:`~resolvers.sources.base.Sources` (what each can answer).
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from hub.types import StoreName
from resolvers.sources.base import DbSpan, Sources, no_span
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.social_care import SocialCareSource

__all__ = ["direct_sources"]


def direct_sources(
    pools: Mapping[StoreName, asyncpg.Pool],
    *,
    timeout: float,
    namespaces: Mapping[StoreName, str] | None = None,
    db_span: DbSpan = no_span,
) -> Sources:
    """The adapters over ``pools`` (one per source store); ``namespaces`` names each database in traces
    (by default, each source's own name)."""
    names = namespaces or {}
    return Sources(
        dwp=DwpSource(pools["src_dwp"], timeout=timeout, namespace=names.get("src_dwp"), db_span=db_span),
        hb=HousingBenefitSource(pools["src_hb"], timeout=timeout, namespace=names.get("src_hb"), db_span=db_span),
        social_care=SocialCareSource(
            pools["src_social_care"], timeout=timeout, namespace=names.get("src_social_care"), db_span=db_span
        ),
    )
