"""Normalisation of the values people are compared on: names, dates of birth, postcodes, addresses.

Pure functions of strings; vectorised callers map them over columns. Every function accepts ``None`` and
returns ``None`` for a value that is missing or unusable, so "unknown" never looks like "different".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from linkage.placeholders import PLACEHOLDER_DOBS

__all__ = [
    "address_tokens",
    "normalise_dob",
    "normalise_name",
    "normalise_postcode",
    "postcode_parts",
]

_NOT_LETTER = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r"\s+")
_TITLES = frozenset({"MR", "MRS", "MS", "MISS", "DR", "REV", "SIR", "DAME", "PROF", "MX"})
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
# Royal Mail style abbreviations, written in full so that "12 High St" and "12 High Street" agree.
_ADDRESS_WORDS = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "LN": "LANE",
    "CT": "COURT",
    "CRT": "COURT",
    "DR": "DRIVE",
    "CL": "CLOSE",
    "PL": "PLACE",
    "SQ": "SQUARE",
    "GDNS": "GARDENS",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "CRES": "CRESCENT",
    "GRN": "GREEN",
    "PK": "PARK",
    "HSE": "HOUSE",
    "FLT": "FLAT",
    "APT": "FLAT",
    "N": "NORTH",
    "S": "SOUTH",
    "E": "EAST",
    "W": "WEST",
}


# Letters that Unicode does not decompose into a base letter plus accents: folded by hand, or they
# would vanish ("Łukasz" -> "UKASZ", "Strauß" -> "STRAU").
_UNDECOMPOSABLE = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "ß": "ss",
        "ẞ": "SS",
        "Ø": "O",
        "ø": "o",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "\u0131": "i",  # dotless i
        "Ħ": "H",
        "ħ": "h",
    }
)


def _ascii_upper(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value.translate(_UNDECOMPOSABLE)).encode("ascii", "ignore").decode("ascii")
    return folded.upper()


def normalise_name(value: str | None) -> str | None:
    """Upper-case ASCII letters and single spaces; hyphens and apostrophes joined ("O'NEILL" -> "ONEILL")."""
    if value is None:
        return None
    text = _ascii_upper(value).replace("'", "").replace("-", " ").replace(".", " ")
    text = _SPACES.sub(" ", _NOT_LETTER.sub(" ", text)).strip()
    words = [w for w in text.split(" ") if w and w not in _TITLES]
    return " ".join(words) or None


def normalise_dob(value: str | dt.date | None, placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS) -> str | None:
    """``YYYYMMDD`` from a date or an ISO / compact date string; ``None`` when not a real date, or when it is
    one of ``placeholders`` (a system's "not known": :mod:`linkage.placeholders`)."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
    else:
        digits = re.sub(r"[^0-9]", "", value)
        if len(digits) != 8:
            return None
        try:
            day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            return None
    if day in placeholders:
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"  # strftime drops zero padding before 1000


def normalise_postcode(value: str | None) -> str | None:
    """A UK postcode as ``"OUTWARD INWARD"``; other (e.g. non-UK) codes upper-cased without spaces."""
    if value is None:
        return None
    compact = re.sub(r"[^A-Z0-9]", "", _ascii_upper(value))
    if not compact:
        return None
    match = _UK_POSTCODE.match(compact)
    return f"{match.group(1)} {match.group(2)}" if match else compact


def postcode_parts(postcode: str | None) -> tuple[str, str, str, str] | None:
    """(unit, sector, district, area) of a normalised UK postcode, e.g. ("SW1A 1AA", "SW1A 1", "SW1A", "SW")."""
    if postcode is None or " " not in postcode:
        return None
    outward, inward = postcode.split(" ", 1)
    area = re.match(r"[A-Z]+", outward)
    return postcode, f"{outward} {inward[0]}", outward, area.group(0) if area else outward


def address_tokens(*lines: str | None) -> frozenset[str]:
    """Tokens of an address with abbreviations expanded; house numbers kept as tokens."""
    words: list[str] = []
    for line in lines:
        if line:
            # A possessive apostrophe joins ("St Mary's" -> MARYS); an elision separates ("l'Eglise" -> L EGLISE).
            upper = re.sub(r"['\u2019]S\b", "S", _ascii_upper(line))
            text = _SPACES.sub(" ", re.sub(r"[^A-Z0-9 ]+", " ", upper)).strip()
            words += [_ADDRESS_WORDS.get(w, w) for w in text.split(" ") if w]
    return frozenset(words)
