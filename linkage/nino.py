"""National Insurance number rules (HMRC National Insurance Manual NIM39110).

A NINO is two prefix letters, six digits and a suffix letter A-D, e.g. ``QQ 12 34 56 C`` (the ``QQ``
prefix is HMRC's own example and is itself invalid, since Q may not be used). The rules:

- the first letter is not D, F, I, Q, U or V;
- the second letter is not D, F, I, O, Q, U or V;
- the prefixes BG, GB, KN, NK, NT, TN and ZZ are not allocated;
- the suffix is A, B, C or D.

Temporary reference numbers (TRNs, e.g. ``63T 12345``, issued while a NINO is traced) are not
identifiers of a person and are refused.

No function here ever puts the value it was given into an error message: a NINO is personal data, and
error messages travel to logs and callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkage.errors import InvalidNino
from linkage.types import NormalisedNino

__all__ = [
    "FIRST_LETTER_EXCLUDED",
    "SECOND_LETTER_EXCLUDED",
    "UNALLOCATED_PREFIXES",
    "NinoCheck",
    "check_nino",
    "normalise_nino",
]

FIRST_LETTER_EXCLUDED = frozenset("DFIQUV")
SECOND_LETTER_EXCLUDED = frozenset("DFIOQUV")
UNALLOCATED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
SUFFIXES = frozenset("ABCD")

_SEPARATORS = re.compile(r"[\s\-.]+")
_SHAPE = re.compile(r"[A-Z]{2}[0-9]{6}[A-Z]")
_TRN = re.compile(r"[0-9]{2}[A-Z][0-9]{5}")


@dataclass(frozen=True, slots=True)
class NinoCheck:
    """Outcome of checking one candidate NINO: ``reason`` is ``None`` when valid."""

    nino: NormalisedNino | None
    reason: str | None
    explanation: str

    @property
    def valid(self) -> bool:
        return self.reason is None


def check_nino(value: str) -> NinoCheck:
    """Normalise and check ``value``; never raises for bad input, returns the reason instead."""
    compact = _SEPARATORS.sub("", value)
    if not compact.isascii():
        # Upper-casing would turn look-alikes (the long s, ligatures) into valid letters: refuse, don't guess.
        return NinoCheck(None, "BAD_FORMAT", "a National Insurance number is written in plain ASCII letters and digits")
    compact = compact.upper()
    if not compact:
        return NinoCheck(None, "EMPTY", "no National Insurance number was given")
    if _TRN.fullmatch(compact):
        return NinoCheck(
            None,
            "TEMPORARY_REFERENCE",
            "a temporary reference number is not a National Insurance number",
        )
    if len(compact) == 8 and _SHAPE.fullmatch(compact + "A"):
        return NinoCheck(None, "MISSING_SUFFIX", "the suffix letter (A, B, C or D) is missing")
    if not _SHAPE.fullmatch(compact):
        return NinoCheck(
            None,
            "BAD_FORMAT",
            "a National Insurance number is two letters, then six digits, then a letter A to D",
        )
    first, second, suffix = compact[0], compact[1], compact[8]
    if first in FIRST_LETTER_EXCLUDED:
        return NinoCheck(None, "BAD_FIRST_LETTER", "the first letter may not be D, F, I, Q, U or V")
    if second in SECOND_LETTER_EXCLUDED:
        return NinoCheck(None, "BAD_SECOND_LETTER", "the second letter may not be D, F, I, O, Q, U or V")
    if compact[:2] in UNALLOCATED_PREFIXES:
        return NinoCheck(
            None,
            "UNALLOCATED_PREFIX",
            "the prefixes BG, GB, KN, NK, NT, TN and ZZ are not allocated",
        )
    if suffix not in SUFFIXES:
        return NinoCheck(None, "BAD_SUFFIX", "the suffix letter must be A, B, C or D")
    return NinoCheck(NormalisedNino(compact), None, "valid")


def normalise_nino(value: str) -> NormalisedNino:
    """Return the normalised NINO, or raise :class:`InvalidNino` naming the rule it breaks."""
    result = check_nino(value)
    if result.nino is None:
        assert result.reason is not None
        raise InvalidNino(result.reason, result.explanation)
    return result.nino
