"""Dates of birth that stand for "not known": what a system writes when it must hold a date and has none.

A placeholder is not a date of birth. Compared as one it does harm both ways: two strangers entered with
1900-01-01 agree "exactly", a person entered with it disagrees with their own real record, and as a
blocking key it puts every such record in one block. So linkage reads a placeholder as missing: no
evidence either way, and never a key. Which dates a system uses is configuration, per source
(``hub.config.Settings.placeholder_dobs``); :data:`PLACEHOLDER_DOBS` holds the ones no living person's
record can carry, and every source's set includes them.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["PLACEHOLDER_DOBS", "is_placeholder_dob", "known_dob", "parse_placeholder_dobs"]

#: Dates that systems write for "unknown", none of them anyone's real date of birth in a record a council
#: links today: 1900-01-01 (the commonest, in social care and health systems), 1901-01-01 (where a system
#: refuses dates before 1901), 1800-01-01; 1899-12-30 and 1899-12-31 (day zero of Excel, Access and OLE
#: dates: an empty cell converted); 1753-01-01 (SQL Server's smallest ``datetime``); 0001-01-01 (.NET's
#: ``DateTime.MinValue``); 9999-12-31 (an "open-ended" date). Not 1970-01-01, the Unix epoch: thousands of
#: people were born that day; a system that writes it for "unknown" configures it.
PLACEHOLDER_DOBS: frozenset[dt.date] = frozenset(
    {
        dt.date(1900, 1, 1),
        dt.date(1901, 1, 1),
        dt.date(1800, 1, 1),
        dt.date(1899, 12, 30),
        dt.date(1899, 12, 31),
        dt.date(1753, 1, 1),
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
    }
)

_SEPARATORS = re.compile(r"[\s,;]+")


def parse_placeholder_dobs(text: str) -> frozenset[dt.date]:
    """ISO dates separated by commas or spaces (``"1900-01-01, 1970-01-01"``), added to
    :data:`PLACEHOLDER_DOBS`. Raises ``ValueError`` naming every entry that is not a date."""
    dates, bad = set(PLACEHOLDER_DOBS), []
    for entry in _SEPARATORS.split(text.strip()):
        if not entry:
            continue
        try:
            dates.add(dt.date.fromisoformat(entry))
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValueError(f"not ISO dates (YYYY-MM-DD): {', '.join(repr(b) for b in bad)}")
    return frozenset(dates)


def _as_date(value: dt.date | str) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) != 8:
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def is_placeholder_dob(value: dt.date | str | None, placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS) -> bool:
    """Whether ``value`` (a date, or an ISO or compact date string) is one of ``placeholders``."""
    if value is None:
        return False
    day = _as_date(value)
    return day is not None and day in placeholders


def known_dob(value: dt.date | str | None, placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS) -> dt.date | str | None:
    """``value`` as held, or ``None`` when it is one of ``placeholders``: what a source hands to linkage."""
    return None if is_placeholder_dob(value, placeholders) else value
