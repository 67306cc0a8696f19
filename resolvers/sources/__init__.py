"""Source adapters, one per source system, all behind the :class:`Source` protocol."""

from resolvers.sources.base import Source
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.social_care import SocialCareSource

__all__ = ["DwpSource", "HousingBenefitSource", "SocialCareSource", "Source"]
