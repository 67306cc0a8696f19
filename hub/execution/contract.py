"""A purpose's schema contract: the part of the hub's schema one purpose may ask for, as SDL (what a
router's contract variant is to a supergraph). A front-end team building a Blue Badge screen reads this,
not the whole schema: every field it shows is one the register lets that purpose see, and nothing else is
there to be asked for by mistake.

The subset is the register's allow-list for the purpose (``Type.field`` coordinates, root fields among
them) and what every caller may use without a purpose (the privacy notice, the transparency report,
corrections and complaints, :func:`resolvers.notice.is_public`). Kept: each object type's allowed fields,
with their arguments; every type those reach (input types whole: a request must be able to fill them);
the ``Purpose`` enum with the one purpose. Dropped: every other field and type. The result is printed SDL
that builds into a valid schema (checked), so tools (codegen, GraphiQL, linters) take it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
    parse,
    print_ast,
)

from hub.access.policy import PurposeSpec
from resolvers.notice import is_public

__all__ = ["PURPOSE_ENUM", "purpose_sdl"]

PURPOSE_ENUM = "Purpose"
_ROOTS = ("Query", "Mutation", "Subscription")


def _named(t: TypeNode) -> str:
    while isinstance(t, NonNullTypeNode | ListTypeNode):
        t = t.type
    assert isinstance(t, NamedTypeNode)
    return t.name.value


def purpose_sdl(full_sdl: str, spec: PurposeSpec) -> str:
    """The SDL of what ``spec`` may ask for, from the hub's whole schema ``full_sdl``."""
    document = parse(full_sdl)
    definitions: dict[str, DefinitionNode] = {
        d.name.value: d for d in document.definitions if isinstance(d, TypeDefinitionNode)
    }

    def allowed(type_name: str, field: str) -> bool:
        coordinate = f"{type_name}.{field}"
        return coordinate in spec.fields or is_public(coordinate)

    # Which fields of each object type stay: allowed ones, then (to a fixpoint) not those whose type kept
    # no field at all (a type with no fields is not a type).
    kept: dict[str, list[FieldDefinitionNode]] = {
        name: [f for f in d.fields or () if allowed(name, f.name.value)]
        for name, d in definitions.items()
        if isinstance(d, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode)
    }
    while True:
        empty = {name for name, fields in kept.items() if not fields}
        pruned = {name: [f for f in fields if _named(f.type) not in empty] for name, fields in kept.items()}
        if pruned == kept:
            break
        kept = pruned

    reached: set[str] = set()
    queue = [r for r in _ROOTS if kept.get(r)]
    while queue:
        name = queue.pop()
        if name in reached or name not in definitions:
            continue  # a built-in scalar, or seen
        reached.add(name)
        node = definitions[name]
        queue += _references(node, kept.get(name, ()))

    out: list[DefinitionNode] = []
    for d in document.definitions:
        kind = getattr(getattr(d, "name", None), "value", None)
        if isinstance(d, DirectiveDefinitionNode):
            out.append(d)  # applied directives must still resolve
        elif isinstance(d, SchemaDefinitionNode):
            operations = tuple(o for o in d.operation_types if o.type.name.value in reached)
            out.append(SchemaDefinitionNode(directives=d.directives, operation_types=operations))
        elif kind not in reached:
            continue
        elif isinstance(d, ObjectTypeDefinitionNode):
            interfaces = tuple(i for i in d.interfaces or () if i.name.value in reached)
            out.append(_with(d, fields=tuple(kept[kind]), interfaces=interfaces))
        elif isinstance(d, InterfaceTypeDefinitionNode):
            out.append(_with(d, fields=tuple(kept[kind])))
        elif isinstance(d, EnumTypeDefinitionNode) and kind == PURPOSE_ENUM:
            out.append(_with(d, values=tuple(v for v in d.values or () if v.name.value == spec.id)))
        elif isinstance(d, UnionTypeDefinitionNode):
            out.append(_with(d, types=tuple(t for t in d.types or () if t.name.value in reached)))
        else:
            out.append(d)
    sdl = print_ast(DocumentNode(definitions=tuple(out))) + "\n"
    build_ast_schema(parse(sdl))  # a contract that does not build is a bug here, not the reader's problem
    return sdl


def _references(node: object, fields: Iterable[FieldDefinitionNode]) -> list[str]:
    """The types a kept definition leads to: its kept fields' types and their arguments' types; an input
    type's every field; a union's members."""
    if isinstance(node, InputObjectTypeDefinitionNode):
        return [_named(f.type) for f in node.fields or ()]
    if isinstance(node, UnionTypeDefinitionNode):
        return [t.name.value for t in node.types or ()]
    out = []
    for f in fields:
        out.append(_named(f.type))
        out += [_named(a.type) for a in f.arguments or ()]
    return out


def _with(node: DefinitionNode, **changes: object) -> DefinitionNode:
    """A copy of an AST node with some attributes replaced (graphql-core's nodes take keyword arguments)."""
    fields: dict[str, Any] = {k: changes.get(k, getattr(node, k)) for k in node.keys if k != "loc"}
    return type(node)(**fields)
