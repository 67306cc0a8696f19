"""The data owner's own copy of what the hub may ask it, per purpose (``subgraphs/policy/<source>.toml``).

The hub's assertion says which fields it asks for; the subgraph answers only those that are both in the
assertion and in this list for the assertion's purpose. A pure decision: no GraphQL, no database. A list
naming an unknown purpose shape or a coordinate the contract does not have refuses to load, listing every
problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError
from resolvers.sources.contract import CANDIDATE_FIELDS, CONTRACT_FIELDS, ENTITIES

__all__ = [
    "CANDIDATE_FIELDS",
    "DELIVERY_COORDINATES",
    "LINKAGE_ROOTS",
    "SubgraphPolicy",
    "contract_coordinates",
    "default_policy_path",
    "linkage_coordinates",
    "load_policy",
]


#: The linkage questions each source answers (root fields, each answering Candidates).
LINKAGE_ROOTS: Mapping[str, tuple[str, ...]] = {
    "dwp": ("Query.candidates", "Query.peopleByNino"),
    "hb": ("Query.candidates", "Query.feed"),
    "social_care": ("Query.candidates", "Query.feed"),
}
#: The delivery of changes of circumstance, for the sources with an inbox (DWP, HB).
DELIVERY_COORDINATES = (
    "Mutation.deliverChanges",
    "DeliveryReceipt.landed",
    "DeliveryReceipt.routed",
    "RoutedClaim.claimRef",
    "RoutedClaim.councilCode",
)
_INBOXES = frozenset({"dwp", "hb"})


def linkage_coordinates(source: str) -> frozenset[str]:
    """What the hub's linkage purpose may ask of a source: its linkage questions and the Candidate fields."""
    return frozenset({*LINKAGE_ROOTS[source], *(f"Candidate.{f}" for f in CANDIDATE_FIELDS)})


def contract_coordinates(source: str) -> frozenset[str]:
    """Every coordinate a source's subgraph offers: its entity and the types it reaches, its linkage
    questions, and (DWP, HB) the delivery of changes to its inbox."""
    found: set[str] = set(linkage_coordinates(source))
    if source in _INBOXES:
        found.update(DELIVERY_COORDINATES)
    pending, seen = [ENTITIES[source]], set()
    while pending:
        type_name = pending.pop()
        if type_name in seen:
            continue
        seen.add(type_name)
        for field, child in CONTRACT_FIELDS[type_name].items():
            found.add(f"{type_name}.{field}")
            if child is not None:
                pending.append(child)
    return frozenset(found)


@dataclass(frozen=True)
class SubgraphPolicy:
    source: str
    purposes: Mapping[str, frozenset[str]]

    def allowed(self, purpose: str) -> frozenset[str]:
        """The coordinates the hub may ask for under ``purpose`` (none for a purpose this owner has not agreed)."""
        return self.purposes.get(purpose, frozenset())


def default_policy_path(source: str) -> Path:
    return Path(__file__).parent / "policy" / f"{source}.toml"


def load_policy(source: str, path: Path | None = None) -> SubgraphPolicy:
    where = path or default_policy_path(source)
    try:
        document = tomllib.loads(where.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"{where}: cannot read the subgraph's policy: {e}"]) from e
    offered = contract_coordinates(source)
    problems: list[str] = []
    purposes: dict[str, frozenset[str]] = {}
    table = document.get("purposes")
    if not isinstance(table, dict):
        raise ConfigError([f'{where}: a [purposes] table is needed (purpose = ["Type.field", ...])'])
    for unknown in sorted(set(document) - {"purposes"}):
        problems.append(f"{where}: unknown table {unknown!r} (only [purposes])")
    for purpose, fields in table.items():
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            problems.append(f'{where}: {purpose} must be a list of "Type.field" coordinates')
            continue
        for coordinate in fields:
            if coordinate not in offered:
                problems.append(f"{where}: {purpose}: {coordinate} is not a field of the {source} contract")
        linkage = [f for f in fields if f.startswith(("Query.", "Candidate."))]
        if linkage and len(linkage) != len(fields):
            problems.append(f"{where}: {purpose}: candidate search is a purpose of its own (linkage), not mixed")
        purposes[purpose] = frozenset(fields)
    if problems:
        raise ConfigError(problems)
    return SubgraphPolicy(source, purposes)
