"""Rendering the direct adapter's records as the contract's JSON, to compare with a subgraph's answer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

from resolvers.sources.contract import CONTRACT_FIELDS

KEYS = {"nino", "recordId"}
CLIENT_SIDE = {"councils", "postcodeDistricts", "recordIds", "homeKeys", "openClaims"}


def _attribute(field: str) -> str:
    if field == "address":
        return "held_address"
    return "".join("_" + c.lower() if c.isupper() else c for c in field)


def _scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def render(value: Any, type_name: str, selection: dict[str, frozenset[str]]) -> Any:
    """``value`` (a record) as the contract's JSON for ``selection`` (keys and hub-internal fields left out)."""
    if value is None:
        return None
    out: dict[str, Any] = {}
    for name in sorted(selection.get(type_name, ())):
        if name in KEYS | CLIENT_SIDE and type_name in {"DwpPerson", "HbPerson", "CareClient"}:
            continue
        child = CONTRACT_FIELDS[type_name][name]
        v = getattr(value, _attribute(name))
        if child is None:
            out[name] = [_scalar(x) for x in v] if isinstance(v, tuple) else _scalar(v)
        elif isinstance(v, tuple):
            out[name] = [render(x, child, selection) for x in v]
        else:
            out[name] = render(v, child, selection)
    return out


def selection_text(type_name: str, selection: dict[str, frozenset[str]]) -> str:
    """The GraphQL selection set of ``selection`` from ``type_name``."""
    parts = []
    for name in sorted(selection.get(type_name, ())):
        child = CONTRACT_FIELDS[type_name][name]
        parts.append(name if child is None else f"{name} {{ {selection_text(child, selection)} }}")
    return " ".join(parts)
