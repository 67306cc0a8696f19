"""Sensitivity tiers in the contract: ``@sensitivity(tier: ...)`` on a type (every field of it) or a field.

A reader of ``schema.graphql`` sees how sensitive each field is; the purpose register is checked against
it at start-up (a purpose may list only fields at or below its own tier). Tiers, lowest first: identity,
benefit_status, financial, special_category (UK GDPR Art. 9: health, social care).
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import ConstDirectiveNode, ObjectTypeDefinitionNode, StringValueNode, parse
from strawberry.schema_directive import Location

from hub.types import TIERS

__all__ = ["Sensitivity", "field_tiers", "tier"]


@strawberry.schema_directive(
    locations=[Location.OBJECT, Location.FIELD_DEFINITION],
    description=(
        "How sensitive a type's fields (or one field) are. Tiers, lowest first: identity, benefit_status, "
        "financial, special_category. A field without its own tier has its type's."
    ),
)
class Sensitivity:
    tier: str


def tier(name: str) -> list[object]:
    """``directives=tier("financial")``, checked against the known tiers when the schema is built."""
    if name not in TIERS:
        raise ValueError(f"unknown sensitivity tier {name!r}")
    return [Sensitivity(tier=name)]


def field_tiers(sdl: str) -> dict[str, str]:
    """Each field coordinate's tier, read from the printed contract: the field's own, else its type's."""
    out: dict[str, str] = {}
    for definition in parse(sdl).definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode):
            continue
        type_tier = _tier_of(definition.directives)
        for field in definition.fields or ():
            found = _tier_of(field.directives) or type_tier
            if found is not None:
                out[f"{definition.name.value}.{field.name.value}"] = found
    return out


def _tier_of(directives: Sequence[ConstDirectiveNode] | None) -> str | None:
    for directive in directives or ():
        if directive.name.value == "sensitivity":
            for argument in directive.arguments or ():
                if argument.name.value == "tier" and isinstance(argument.value, StringValueNode):
                    return argument.value.value
    return None
