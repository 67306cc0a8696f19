"""API conventions a client can rely on (issue 16, item 7): every type, field, argument, input field and enum
value of the public schema says what it is, so a new undocumented one fails here rather than in review."""

from __future__ import annotations

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

from hub.config import Settings
from hub.execution.schema import build_schema


def _undescribed(schema: GraphQLSchema) -> list[str]:
    """Every schema coordinate (Type, Type.field, Type.field(arg), Enum.VALUE) with no description."""
    missing: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__"):  # introspection's own types are graphql-core's
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name}:)")
        if isinstance(named, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in named.values.items() if not value.description]
    return missing


def test_everything_in_the_schema_is_described() -> None:
    missing = _undescribed(build_schema(Settings())._schema)
    assert missing == [], "describe these (what it is, units, formats, defaults, what null means): " + ", ".join(
        missing
    )


def test_the_check_sees_an_undescribed_field() -> None:
    @strawberry.type(description="A root.")
    class Query:
        bare: int = 0

    assert _undescribed(strawberry.Schema(query=Query)._schema) == ["Query.bare"]
