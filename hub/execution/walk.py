"""The operation walk: what an operation will resolve, read from its document before anything runs.

Fragments, inline fragments and aliases are followed, so a field cannot hide from the purpose check behind
any of them; arguments are read as the executor will see them (variables coerced, defaults applied).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values

__all__ = ["argument_of", "field_coordinates", "purpose_of", "root_fields"]


def root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> Iterable[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from root_fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from root_fields(fragments[selection.name.value].selection_set, fragments)


def field_coordinates(
    schema: Any, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str]:
    """Every ``Type.field`` an operation can resolve, through fragments, inline fragments and aliases."""
    found: set[str] = set()
    _walk(schema, fragments, operation.selection_set, schema.get_root_type(operation.operation), found, set())
    return found


def _walk(
    schema: Any,
    fragments: dict[str, FragmentDefinitionNode],
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
    found: set[str],
    seen: set[tuple[str, str]],
) -> None:
    # A function of the module, not a closure: a nested function that calls itself is a reference cycle,
    # one per request for the collector.
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            found.add(f"{parent.name}.{name}")
            if selection.selection_set is None or not isinstance(parent, GraphQLObjectType):
                continue
            definition = parent.fields.get(name)
            if definition is not None:
                _walk(schema, fragments, selection.selection_set, get_named_type(definition.type), found, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = schema.get_type(condition.name.value) if condition else parent
            _walk(schema, fragments, selection.selection_set, target, found, seen)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            key = (selection.name.value, parent.name)
            if fragment is None or key in seen:
                continue
            seen.add(key)
            target = schema.get_type(fragment.type_condition.name.value) or parent
            _walk(schema, fragments, fragment.selection_set, target, found, seen)


def argument_of(field: FieldNode, definition: Any, variables: Any, name: str) -> Any:
    """An argument as the executor will see it (variables coerced, defaults applied); enums by value."""
    if definition is None:
        return None
    try:
        value = get_argument_values(definition, field, variables).get(name)
    except GraphQLError:
        return None
    return getattr(value, "value", value) if value is not None else None


def purpose_of(field: FieldNode, definition: Any, variables: Any) -> str | None:
    value = argument_of(field, definition, variables, "purpose")
    return value if isinstance(value, str) else None
