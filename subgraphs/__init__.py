"""The reference subgraphs: each source (DWP, the councils' Housing Benefit, the councils' adult social
care) served by its owner as an Apollo Federation v2 subgraph over its own store.

The contract each implements is its printed SDL (``subgraphs/<source>.graphql``): another organisation may
implement the same contract in any language. Every call carries the hub's signed purpose assertion; the
subgraph verifies it, checks the document against the assertion and its own policy before anything is read,
logs the access in its own store before answering, and answers through the source's direct adapter.

Nothing of the hub imports this package except its command line (``welfare-hub subgraph``).
"""

from subgraphs.config import SubgraphConfig
from subgraphs.schema import build_schema

__all__ = ["SubgraphConfig", "build_schema"]
