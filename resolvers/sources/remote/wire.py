"""The subgraph wire, pure: the documents the hub sends, built from a selection, and the answers decoded.

A document names exactly the fields the ask selects (and the key field it looks up by, to check the
order of the answer): a field the purpose does not allow is never on the wire. Each distinct (entity,
selection, key kinds) is built once (:func:`entity_plan`, a bounded cache), together with the decoder that
checks an answer against it.

An answer is trusted for nothing: every entity must be null or of the type asked for, in the order asked
(its key echoes the representation), with exactly the fields asked for, each of the contract's scalar
type. Anything else is :class:`Malformed`, and nothing of that answer is used. A refusal by the subgraph
is :class:`Refusal`. Reasons are this module's own words and indices, never text from the answer (a
subgraph, or whatever answers in its place, may put anything there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.types import SubjectKey
from resolvers.sources import records
from resolvers.sources.contract import CONTRACT_FIELDS, Selection, coordinates

__all__ = [
    "ADDRESS_PROTECTED",
    "REFUSALS",
    "Entity",
    "EntityPlan",
    "Malformed",
    "Refusal",
    "SlotError",
    "build",
    "check_answer",
    "entity_plan",
    "representation",
]

#: The codes by which a subgraph refuses the hub's question (the whole document, before reading).
REFUSALS = frozenset({"FIELD_NOT_ALLOWED", "ASSERTION_INVALID"})
ADDRESS_PROTECTED = "ADDRESS_PROTECTED"

#: The key field a representation carries, per kind of subject key.
_KEY_FIELD = {"nino": "nino", "id": "recordId"}


class Malformed(Exception):
    """An answer that does not fit what was asked; ``reason`` is safe to log (no text from the answer)."""


class Refusal(Exception):
    """The subgraph refused the question (``code``: one of :data:`REFUSALS`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class SlotError:
    """One entity the subgraph could not answer (an error at its path): that key fails, the others stand."""

    code: str | None


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity as answered: decoded values by GraphQL field name (objects already built as records)."""

    values: Mapping[str, Any]
    address_protected: bool = False


# -- scalars -----------------------------------------------------------------------------------------

Decode = Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise Malformed("a text field is not text")
    return v


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise Malformed("an Int field is not an integer")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Malformed("a Boolean field is not a boolean")
    return v


def _date(v: Any) -> dt.date:
    # The contract's Date is ISO yyyy-mm-dd, nothing longer (fromisoformat alone also takes other forms).
    if not isinstance(v, str) or len(v) != 10:
        raise Malformed("a Date field is not yyyy-mm-dd")
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise Malformed("a Date field is not yyyy-mm-dd") from None


def _decimal(v: Any) -> Decimal:
    # Money travels as a string, so no float rounding; a 40-character cap bounds the work of parsing it.
    if not isinstance(v, str) or len(v) > 40:
        raise Malformed("a Decimal field is not a decimal string")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise Malformed("a Decimal field is not a decimal string") from None
    if not d.is_finite():
        raise Malformed("a Decimal field is not finite")
    return d


def _enum(cls: type[enum.Enum]) -> Decode:
    members = dict(cls.__members__)  # GraphQL enum values are the member names (DLA, SOCIAL, CARE_HOME)

    def decode(v: Any) -> enum.Enum:
        if not isinstance(v, str) or v not in members:
            raise Malformed(f"a {cls.__name__} field is not one of its values")
        return members[v]

    return decode


def _nullable(decode: Decode) -> Decode:
    return lambda v: None if v is None else decode(v)


def _list_of(decode: Decode) -> Decode:
    """A list of non-null items (a null item is malformed: the records hold none)."""

    def each(v: Any) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise Malformed("a list field is not a list")
        return tuple([decode(x) for x in v])

    return each


# -- the contract's types, as records ----------------------------------------------------------------

#: The record dataclass each contract object type is built as (OpenClaim is a (claim ref, council) pair).
_RECORD_OF: Mapping[str, type] = {
    "DwpPerson": records.DwpRecord,
    "PersonName": records.PersonName,
    "Address": records.Address,
    "BenefitAward": records.BenefitAward,
    "DeclaredIncome": records.DeclaredIncome,
    "DeclaredCapital": records.DeclaredCapital,
    "HouseholdMember": records.HouseholdMember,
    "HbPerson": records.HousingBenefitRecord,
    "HousingBenefitClaim": records.HousingBenefitClaim,
    "DhpAward": records.DhpAward,
    "CareClient": records.SocialCareRecord,
    "CarePlacement": records.CarePlacement,
    "FinancialAssessment": records.FinancialAssessment,
}

#: Fields that are the hub's own questions or keys, not attributes of a record: their wire types.
_OWN_FIELDS: Mapping[str, Decode] = {
    "recordId": _str,
    "nino": _str,
    "councils": _list_of(_str),
    "postcodeDistricts": _list_of(_str),
    "recordIds": _list_of(_str),
    "homeKeys": _list_of(_str),
    "claimRef": _str,
    "councilCode": _str,
}

_SCALARS: Mapping[Any, Decode] = {str: _str, int: _int, bool: _bool, dt.date: _date, Decimal: _decimal}


@functools.cache
def attribute(field: str) -> str:
    """The record attribute a contract field fills (as the contract's projection names it)."""
    if field == "address":
        return "held_address"
    return "".join("_" + c.lower() if c.isupper() else c for c in field)


def _leaf(hint: Any) -> tuple[Any, bool]:
    """(the scalar or dataclass inside a record attribute's type, whether it is a list of them)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _leaf(args[0])
    if typing.get_origin(hint) is tuple:
        return args[0], True
    return hint, False


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _object(type_name: str, selection: Selection, *, entity: bool = False) -> Decode:
    """The decoder of one (non-null) object of ``type_name`` holding exactly the selected fields (or, when
    none is selected, only ``__typename``: GraphQL needs a selection, and it tells nothing). Any field
    may be null.

    An entity (``entity=True``) also carries ``__typename`` (checked by :meth:`EntityPlan.decode`) and is
    decoded to its values by field name, not a record: some of its fields are keys or the hub's own
    questions. Other objects are built as their record at once (every attribute not answered None)."""
    chosen = sorted(f for f in selection.get(type_name, ()) if f in CONTRACT_FIELDS[type_name])
    record = None if entity else _RECORD_OF.get(type_name)
    expected = frozenset({"__typename", *chosen} if entity or not chosen else chosen)
    if record is None:
        named = tuple((f, _field(type_name, f, selection)) for f in chosen)

        def values(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict) or v.keys() != expected:
                raise Malformed(f"a {type_name} does not hold exactly the fields asked for")
            return {f: None if (x := v[f]) is None else decode(x) for f, decode in named}

        return values
    # Precomputed, since this runs for every object of every answer: the record's attributes, all None,
    # and which attribute each answered field fills.
    blank: dict[str, Any] = dict.fromkeys((f.name for f in dataclasses.fields(record)), None)
    filled = tuple((f, attribute(f), _field(type_name, f, selection)) for f in chosen)

    def built(v: Any) -> Any:
        if not isinstance(v, dict) or v.keys() != expected:
            raise Malformed(f"a {type_name} does not hold exactly the fields asked for")
        if not chosen and v["__typename"] != type_name:
            raise Malformed(f"a {type_name} is of another type")
        attrs = blank.copy()
        for f, name, decode in filled:
            x = v[f]
            attrs[name] = None if x is None else decode(x)
        return record(**attrs)

    return built


def _field(type_name: str, field: str, selection: Selection) -> Decode:
    """The decoder of one field's non-null value."""
    child = CONTRACT_FIELDS[type_name][field]
    record = _RECORD_OF.get(type_name)
    hint = _hints(record).get(attribute(field)) if record is not None else None
    if hint is None:
        if child is not None:  # an object the records do not model (OpenClaim)
            return _list_of(_object(child, selection))
        return _OWN_FIELDS[field]
    leaf, many = _leaf(hint)
    if child is not None:
        decode = _object(child, selection)
    elif isinstance(leaf, type) and issubclass(leaf, enum.Enum):
        decode = _enum(leaf)
    else:
        decode = _SCALARS[leaf]
    return _list_of(decode) if many else decode


@functools.cache
def _blank(record: type) -> dict[str, Any]:
    return dict.fromkeys((f.name for f in dataclasses.fields(record)), None)


def build(record: type, values: Mapping[str, Any], **attributes: Any) -> Any:
    """A record with the answered fields (and ``attributes``), every other attribute None (as the contract
    projects it)."""
    attrs = _blank(record).copy()
    for field, value in values.items():
        name = attribute(field)
        if name in attrs:
            attrs[name] = value
    attrs.update(attributes)
    return record(**attrs)


# -- entity documents --------------------------------------------------------------------------------


def _reachable(entity: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = [entity]
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo.extend(c for c in CONTRACT_FIELDS[t].values() if c is not None)
    return frozenset(seen)


_REACHABLE = {e: _reachable(e) for e in ("DwpPerson", "HbPerson", "CareClient")}


def _selection_set(type_name: str, selection: Selection) -> str:
    parts: list[str] = []
    for f in sorted(f for f in selection.get(type_name, ()) if f in CONTRACT_FIELDS[type_name]):
        child = CONTRACT_FIELDS[type_name][f]
        parts.append(f if child is None else f"{f}{{{_selection_set(child, selection) or '__typename'}}}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class EntityPlan:
    """One ``_entities`` document, the coordinates its assertion names, and the decoder of its answer."""

    entity: str
    query: str
    fields: tuple[str, ...]
    key_fields: frozenset[str]
    address: bool  # DwpPerson.address is asked for (so ADDRESS_PROTECTED may answer it)
    decode_item: Decode

    def decode(self, payload: Any, representations: Sequence[Mapping[str, str]]) -> list[Entity | SlotError | None]:
        """The answer to this document for these representations, one slot each, in order."""
        data, errors = check_answer(payload)
        if data is None:
            raise Malformed("data is null")
        if not isinstance(data, dict) or data.keys() != {"_entities"}:
            raise Malformed("data is not an _entities answer")
        items = data["_entities"]
        n = len(representations)
        if not isinstance(items, list) or len(items) != n:
            raise Malformed("wrong entity count")
        failed: dict[int, str | None] = {}
        protected: set[int] = set()
        for error in errors:
            path = error.get("path")
            if not isinstance(path, list) or len(path) < 2 or path[0] != "_entities":
                raise Malformed("an error outside the entities")
            i = path[1]
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
                raise Malformed("an error at no entity asked for")
            code = _code(error)
            if self.address and code == ADDRESS_PROTECTED and path[2:] == ["address"]:
                protected.add(i)
            else:
                failed.setdefault(i, code)
        out: list[Entity | SlotError | None] = []
        for i, (item, rep) in enumerate(zip(items, representations, strict=True)):
            if item is not None:
                if not isinstance(item, dict) or item.get("__typename") != self.entity:
                    raise Malformed(f"entity {i} is not a {self.entity}")
                for key in self.key_fields & rep.keys():
                    if not _same_key(key, item.get(key), rep[key]):
                        raise Malformed(f"entity {i} is not the one asked for (order)")
            if i in failed:
                out.append(SlotError(failed[i]))
            elif item is None:
                out.append(None)
            else:
                if i in protected and item.get("address") is not None:
                    raise Malformed(f"entity {i} has an address said to be protected")
                out.append(Entity(self.decode_item(item), address_protected=i in protected))
        return out


def _same_key(key: str, answered: Any, asked: str) -> bool:
    if not isinstance(answered, str):
        return False
    if key == "nino":  # a council system may echo the NINO as typed
        return answered.replace(" ", "").upper() == asked
    return answered == asked


def representation(entity: str, key: SubjectKey) -> dict[str, str]:
    kind, value = key
    return {"__typename": entity, _KEY_FIELD[kind]: str(value)}


def entity_plan(entity: str, selection: Selection, key_kinds: frozenset[str]) -> EntityPlan:
    """The plan for asking ``entity`` for ``selection`` by these kinds of key (built once per distinct ask)."""
    reachable = _REACHABLE[entity]
    normal = tuple(sorted((t, frozenset(fs)) for t, fs in selection.items() if t in reachable and fs))
    return _plan(entity, normal, key_kinds)


@functools.lru_cache(maxsize=512)
def _plan(entity: str, normal: tuple[tuple[str, frozenset[str]], ...], key_kinds: frozenset[str]) -> EntityPlan:
    keys = frozenset(_KEY_FIELD[k] for k in key_kinds)
    selection: dict[str, frozenset[str]] = dict(normal)
    selection[entity] = selection.get(entity, frozenset()) | keys
    body = _selection_set(entity, selection)
    return EntityPlan(
        entity=entity,
        query=f"query($r:[_Any!]!){{_entities(representations:$r){{__typename ...on {entity}{{{body}}}}}}}",
        fields=tuple(coordinates(entity, selection)),
        key_fields=keys,
        address=entity == "DwpPerson" and "address" in selection[entity],
        decode_item=_object(entity, selection, entity=True),
    )


def check_answer(payload: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(data, errors) of a GraphQL answer; a refusal anywhere in it refuses the whole call."""
    if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
        raise Malformed("not a GraphQL answer")
    errors = payload.get("errors") or []
    if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
        raise Malformed("errors is not a list of objects")
    for error in errors:
        code = _code(error)
        if code in REFUSALS:
            raise Refusal(code)
    return payload.get("data"), errors


def _code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return code if isinstance(code, str) else None


# -- scalars for other answers (candidate search) ------------------------------------------------------

int_value: Decode = _int
text_value: Decode = _nullable(_str)
date_value: Decode = _nullable(_date)
required_text: Decode = _str
