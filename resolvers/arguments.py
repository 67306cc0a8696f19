"""Checking the arguments many fields share: ids given as strings, page sizes, free text, periods (a page's
cursor: :mod:`resolvers.pages`). Each failure is BAD_USER_INPUT with a message naming the argument."""

from __future__ import annotations

import datetime as dt

from hub.errors import BadUserInput, InvalidNinoInput
from linkage import NormalisedNino, check_nino

__all__ = ["nino", "number", "page_size", "period", "public_period", "text"]

_MAX_PERIOD = dt.timedelta(days=366)


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


#: The years a period of the audit log may fall in (outside, date arithmetic overflows; no log is there).
_YEARS = (2000, 2999)


def period(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """A period of the audit log: the 30 days to ``until`` (now) by default, with UTC offsets, at most a year."""
    end = until or dt.datetime.now(dt.UTC)
    if end.tzinfo is None or (since is not None and since.tzinfo is None):
        raise BadUserInput("give times with a UTC offset (2026-01-31T00:00:00Z)")
    for moment in (end, since):
        if moment is not None and not _YEARS[0] <= moment.astimezone(dt.UTC).year <= _YEARS[1]:
            raise BadUserInput(f"give times between the years {_YEARS[0]} and {_YEARS[1]}")
    start = since or end - dt.timedelta(days=30)
    if not start < end:
        raise BadUserInput("since must be before until")
    if end - start > _MAX_PERIOD:
        raise BadUserInput("a period may be at most a year long")
    return start, end


def public_period(
    since: dt.datetime | None, until: dt.datetime | None, *, today: dt.date | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """A period of the public transparency report: whole UTC days that have ended (the 30 days to today's
    start by default). Counts over a chosen microsecond would tell a caller how its own lookup was recorded
    (an oracle: whether the person it asked about exists); over a day they are everyone's."""
    midnight = dt.datetime.combine(today or dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    start, end = period(since, until or midnight)
    for moment in (start, end):
        utc = moment.astimezone(dt.UTC)
        if utc.time() != dt.time():
            raise BadUserInput("the public report covers whole days: give midnights (UTC), e.g. 2026-01-31T00:00:00Z")
    if end > midnight:
        raise BadUserInput("the public report covers days that have ended: until may be today's midnight (UTC) at most")
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
