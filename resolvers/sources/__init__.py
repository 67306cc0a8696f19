"""Source adapters, one per source system, all behind the :class:`Source` protocol; they return plain
records (:mod:`resolvers.sources.records`), never GraphQL types."""

from resolvers.sources.base import ClaimsSource, DbSpan, Source, Sources, SpanLike, SpineSource, no_span
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.social_care import SocialCareSource

__all__ = [
    "ClaimsSource",
    "DbSpan",
    "DwpSource",
    "HousingBenefitSource",
    "SocialCareSource",
    "Source",
    "Sources",
    "SpanLike",
    "SpineSource",
    "no_span",
]
