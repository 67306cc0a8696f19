"""Checking the arguments many fields share: ids given as strings, page sizes, free text. Each failure is
BAD_USER_INPUT with a message naming the argument."""

from __future__ import annotations

from hub.errors import BadUserInput, InvalidNinoInput
from linkage import NormalisedNino, check_nino

__all__ = ["cursor", "nino", "number", "page_size", "text"]


def nino(value: str) -> NormalisedNino:
    """A NINO, normalised; INVALID_NINO with the rule it breaks (never the value) otherwise."""
    check = check_nino(value)
    if check.nino is None:
        raise InvalidNinoInput(f"invalid National Insurance number: {check.explanation}", reason=check.reason)
    return NormalisedNino(check.nino)


def number(value: str, what: str) -> int:
    """A positive integer id given as a GraphQL ID."""
    try:
        parsed = int(value)
    except ValueError:
        raise BadUserInput(f"{what} must be a number") from None
    if parsed < 1:
        raise BadUserInput(f"{what} must be positive")
    return parsed


def cursor(value: str | None, what: str) -> int | None:
    """An optional cursor (the last id of the previous page)."""
    return None if value is None else number(value, what)


def page_size(first: int, maximum: int) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}")
    return first


def text(value: str, what: str, maximum: int = 2000) -> str:
    """Free text, trimmed: present, and not longer than ``maximum`` characters."""
    value = value.strip()
    if not 1 <= len(value) <= maximum:
        raise BadUserInput(f"give the {what}, at most {maximum:,} characters")
    return value
