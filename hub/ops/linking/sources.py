"""What a batch link run shares: the comparisons, the sources opened for it (the service's own read-only
adapters, with a long timeout and each source's placeholder dates of birth), and the counts it reports."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from hub.config import Settings
from hub.db import create_store_pool
from hub.types import SOURCE_STORES
from resolvers.source_spans import source_span
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource

__all__ = ["BATCH_TIMEOUT", "COMPARISONS", "LinkCounts", "open_sources"]


# No "town": in UK data it is determined by the postcode, and EM collapses when two comparisons carry
# the same information. Postcode and address are one "residence" comparison: a move changes both, and
# as two comparisons a moved person was penalised twice.
COMPARISONS = ("given_name", "family_name", "dob", "residence")
BATCH_TIMEOUT = 120.0


@dataclass
class LinkCounts:
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    #: What the run did to the review queue, and its size before and after (hub.ops.linking.rows.finish_run).
    review: dict[str, Any] = field(default_factory=dict)

    def add(self, source: str, key: str, n: int = 1) -> None:
        bucket = self.by_source.setdefault(source, {})
        bucket[key] = bucket.get(key, 0) + n


@asynccontextmanager
async def open_sources(settings: Settings) -> Any:
    pools = {
        store: await create_store_pool(settings.service_url(store), acquire_timeout=BATCH_TIMEOUT, max_size=4)
        for store in SOURCE_STORES
    }
    try:
        yield (
            DwpSource(
                pools["src_dwp"],
                timeout=BATCH_TIMEOUT,
                db_span=source_span,
                placeholder_dobs=settings.placeholder_dobs("dwp"),
            ),
            HousingBenefitSource(
                pools["src_hb"],
                timeout=BATCH_TIMEOUT,
                db_span=source_span,
                placeholder_dobs=settings.placeholder_dobs("hb"),
            ),
            SocialCareSource(
                pools["src_social_care"],
                timeout=BATCH_TIMEOUT,
                db_span=source_span,
                placeholder_dobs=settings.placeholder_dobs("social_care"),
            ),
        )
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))
