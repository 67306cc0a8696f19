"""One page shape for every list that pages: ``XPage { items nextCursor }``, asked for with ``first`` and
``after``.

A cursor is opaque to clients: base64url of a JSON array, the field that gave it and the sort key of the
last item shown (a unique tiebreaker last, so the order is stable). A resolver reads ``first + 1`` rows, so
``nextCursor`` is null exactly when nothing follows. A cursor that is not, byte for byte, one this field
gives is BAD_USER_INPUT: never a 500, and never a cursor of another field taken for this one's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

import strawberry

from hub.errors import BadUserInput

__all__ = ["AfterArgument", "Key", "Kind", "after_id", "decode", "encode", "page"]

#: A sort key: ids, UUIDs and times (a time travels as ISO 8601 with its UTC offset).
Key = tuple[int | uuid.UUID | dt.datetime, ...]
Kind = type[int] | type[uuid.UUID] | type[dt.datetime]

Row = TypeVar("Row")

#: Every paged field's ``after``, the last of its arguments.
AfterArgument = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="The nextCursor of the previous page (opaque); null for the first page."),
]

#: Larger than any cursor we give: a longer one is refused before it is decoded.
_MAX_LENGTH = 200
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
#: Ids are positive and fit PostgreSQL's bigint.
_MAX_ID = 2**63 - 1


def encode(field: str, key: Key) -> strawberry.ID:
    """The cursor after the item whose sort key is ``key`` in ``field``."""
    parts = [
        field,
        *(k if isinstance(k, int) else k.isoformat() if isinstance(k, dt.datetime) else str(k) for k in key),
    ]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"))


def decode(value: str | None, field: str, kinds: tuple[Kind, ...]) -> Key | None:
    """The sort key in ``value`` (None for the first page), each part of the kind ``kinds`` names."""
    if value is None:
        return None
    refused = BadUserInput(f"after is not a cursor {field} gave: pass the nextCursor of the previous page unchanged")
    if not 0 < len(value) <= _MAX_LENGTH or not _ALPHABET.fullmatch(value):
        raise refused
    try:
        parts = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise refused from None
    if not isinstance(parts, list) or len(parts) != len(kinds) + 1 or parts[0] != field:
        raise refused
    key: list[int | uuid.UUID | dt.datetime] = []
    for part, kind in zip(parts[1:], kinds, strict=True):
        parsed = _part(part, kind)
        if parsed is None:
            raise refused
        key.append(parsed)
    if encode(field, tuple(key)) != value:  # one spelling only: what this field gives
        raise refused
    return tuple(key)


def _part(value: object, kind: Kind) -> int | uuid.UUID | dt.datetime | None:
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_ID else None
    if not isinstance(value, str):
        return None
    try:
        if kind is uuid.UUID:
            return uuid.UUID(value)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def page(
    rows: Sequence[Row], first: int, field: str, key: Callable[[Row], Key]
) -> tuple[list[Row], strawberry.ID | None]:
    """The first ``first`` of ``rows`` (read as ``first + 1``) and the cursor after them: None when the
    extra row was not there, so nothing follows."""
    shown = list(rows[:first])
    return shown, encode(field, key(shown[-1])) if len(rows) > first and shown else None


def after_id(value: str | None, field: str) -> int | None:
    """The id in a cursor of a field ordered by one id (None for the first page)."""
    key = decode(value, field, (int,))
    if key is None:
        return None
    (last,) = key
    assert isinstance(last, int), "decode gives the kinds it is asked for"
    return last
