"""What a document would cost, computed once before it is validated, in time linear in its size.

A fragment is measured once and its figures reused wherever it is spread (strawberry's depth and alias
limiters expand every spread afresh: a 1 KB document of fragments that each spread the next three times
costs 3^n visits, which held the event loop for hours). One pass gives every figure the limits need:

- ``depth``: the deepest field's nesting level (root fields are at 0), as strawberry's QueryDepthLimiter
  counts it (introspection fields are not counted, nor what is under them);
- ``aliases``: aliased fields, counted each time they would resolve (through every spread);
- ``fields``: fields that would resolve, counted the same way: the work the executor would do.

A fragment that spreads itself, directly or not, is refused here (validation would refuse it too, but
only after the expansion this module exists to avoid).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

__all__ = ["Cost", "Limits", "document_cost", "over_limits", "too_many_tokens"]


@dataclass(frozen=True, slots=True)
class Cost:
    depth: int = 0  # deepest nesting level below the selection set measured (its own fields are level 0)
    aliases: int = 0
    fields: int = 0

    def below(self, levels: int) -> Cost:
        """This selection's cost seen from ``levels`` above it."""
        return Cost(self.depth + levels, self.aliases, self.fields)

    def __add__(self, other: Cost) -> Cost:
        return Cost(max(self.depth, other.depth), self.aliases + other.aliases, self.fields + other.fields)


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_fields: int
    max_list_items: int = 100  # items in any one list value, literal or variable (hub.execution.inputs)


class FragmentCycle(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Measure:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, Cost] = {}
        self.open: set[str] = set()

    def fragment(self, name: str) -> Cost:
        found = self.done.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None:
            return Cost()  # an unknown fragment: validation names it
        if name in self.open:
            raise FragmentCycle(name)
        self.open.add(name)
        cost = self.selections(definition.selection_set)
        self.open.discard(name)
        self.done[name] = cost
        return cost

    def selections(self, selection_set: SelectionSetNode) -> Cost:
        total = Cost()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                here = Cost(0, 1 if selection.alias else 0, 1)
                if selection.selection_set is not None:
                    below = self.selections(selection.selection_set).below(1)
                    if selection.name.value.startswith("__"):
                        # Introspection's depth is the schema's, not the caller's (GraphiQL's own query is
                        # deep): it is not counted, as strawberry's limiter does not; its fields and aliases are.
                        below = Cost(0, below.aliases, below.fields)
                    here = here + below
                total = total + here
            elif isinstance(selection, InlineFragmentNode):
                total = total + self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total = total + self.fragment(selection.name.value)
        return total


def document_cost(document: DocumentNode) -> dict[str | None, Cost]:
    """Each operation's cost, by name (None for an anonymous one). Raises FragmentCycle."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measure = _Measure(fragments)
    for name in fragments:  # every fragment, spread or not: a cycle anywhere is refused
        measure.fragment(name)
    return {
        (d.name.value if d.name else None): measure.selections(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def _error(message: str, limit: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "GRAPHQL_VALIDATION_FAILED", "limit": limit})


def over_limits(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """The limits this document breaks, as validation errors (empty when it is within them)."""
    try:
        costs = document_cost(document)
    except FragmentCycle as cycle:
        return [_error(f"fragment {cycle.name!r} spreads itself", "fragment_cycle")]
    return list(_breaches(costs.items(), limits))


def _breaches(costs: Iterable[tuple[str | None, Cost]], limits: Limits) -> Iterable[GraphQLError]:
    for name, cost in costs:
        label = f"'{name}'" if name else "the operation"
        if cost.depth > limits.max_depth:
            yield _error(f"{label} exceeds maximum operation depth of {limits.max_depth}", "depth")
        if cost.aliases > limits.max_aliases:
            yield _error(f"{label} has more than {limits.max_aliases} aliases", "aliases")
        if cost.fields > limits.max_fields:
            yield _error(f"{label} would resolve over {limits.max_fields} fields", "fields")


def too_many_tokens(message: str) -> bool:
    """Whether a parser error is the token limit (graphql-core raises it as a syntax error): a cost limit,
    answered as the other limits are, not a document that is not GraphQL."""
    return message.startswith("Syntax Error: Document contains more than") and "tokens" in message
