"""The subgraph transport: each source answered over HTTP by its owner's Apollo Federation v2 subgraph.

``subgraph_source(name, url, signer=, timeout=)`` builds one adapter (``subgraph_sources`` all three, as
:class:`~resolvers.sources.base.Sources`); each makes one POST per question, signed with a purpose
assertion, under its own deadline and circuit breaker, and answers the same records as the direct
transport.
"""

from resolvers.sources.remote.breaker import CircuitBreaker
from resolvers.sources.remote.source import (
    CANDIDATE_CHUNK,
    CareSubgraph,
    DwpSubgraph,
    HbSubgraph,
    SubgraphSource,
    aclose_sources,
    subgraph_source,
    subgraph_sources,
)
from resolvers.sources.remote.transport import MAX_BODY_BYTES

__all__ = [
    "CANDIDATE_CHUNK",
    "MAX_BODY_BYTES",
    "CareSubgraph",
    "CircuitBreaker",
    "DwpSubgraph",
    "HbSubgraph",
    "SubgraphSource",
    "aclose_sources",
    "subgraph_source",
    "subgraph_sources",
]
