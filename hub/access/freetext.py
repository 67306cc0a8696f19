"""Free text a caller writes into the hub's records: hold reasons, complaint summaries and notes,
correction evidence, idempotency keys. Other organisations read it, and it is kept for years, so it must
never carry a National Insurance number: one that is NINO-shaped in any form is refused, with a message
that says what to do (:func:`free_text`).

"NINO-shaped" is broader than a valid NINO, on purpose: a mistyped or unallocated number still names a
person. Two letters, then six digits, then perhaps a suffix letter, in any case, with spaces, hyphens, dots,
slashes or any other punctuation between the characters (up to six at a time), in full-width or other
compatibility forms, in another script's digits, with Cyrillic or Greek letters that look Latin, with the
letter O for a zero, and with invisible characters (zero-width spaces, soft hyphens) inside; a temporary
reference number too
(``63T 12345``). It starts a word (``CASE-2026-17``, a case reference, is not the NINO-shaped
``SE-2026-17``), and six digits followed by more digits (a longer number) are not a NINO.

An identifier a machine made (an idempotency key: often a UUID, whose hex is shaped like two letters and
six digits in about one key in five) is held to a narrower rule, so that a random key is never refused: a
whole NINO, suffix letter included, standing on its own (not inside a longer run of letters and digits),
its two prefix letters together, in any case and with any separators between the rest, and valid by
HMRC's rules (:func:`linkage.check_nino`; :func:`refuse_nino` with ``identifier=True``).

Pure: no database, no I/O. The refusal never quotes the text.
"""

from __future__ import annotations

import re
import unicodedata

from hub.errors import BadUserInput, NinoInFreeText
from linkage import check_nino

__all__ = ["free_text", "has_nino", "refuse_nino"]

# Up to six non-alphanumeric characters between two of a NINO's characters (":", " - ", ". ", a run of
# spaces).
_SEP = r"[\W_]{0,6}"
# In the digits, a letter O where a zero belongs is still a zero to a reader.
_DIGIT = "[0-9o]"
_NINO_SHAPED = re.compile(
    rf"(?<![a-z0-9])[a-z]{_SEP}[a-z](?:{_SEP}{_DIGIT}){{6}}(?!{_SEP}[0-9])"
    # A temporary reference number: two digits, a letter, five digits.
    rf"|(?<![0-9])[0-9]{_SEP}[0-9]{_SEP}[a-z](?:{_SEP}{_DIGIT}){{5}}(?!{_SEP}[0-9])",
    re.IGNORECASE | re.ASCII,
)

#: Letters of other scripts that look like the Latin ones a NINO is written in (Cyrillic and Greek
#: capitals and small letters): "\u0408\u041a102030\u0410" (Cyrillic Je, Ka, A) reads as a NINO.
_LOOKALIKES = str.maketrans(
    "АВЕЅІЈКМНОРСТХУаеіјорсухѕΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρτυχ",
    "ABESIJKMHOPCTXYaeijopcyxsABEZHIKMNOPTYXoiKvptux",
)

# In an identifier the two prefix letters are written together: "k-e123456a" is a prefix and a hex run.
_WHOLE_NINO = re.compile(
    rf"(?<![a-z0-9])[a-z][a-z](?:{_SEP}[0-9]){{6}}{_SEP}[a-d](?![a-z0-9])", re.IGNORECASE | re.ASCII
)


def _folded(value: str) -> str:
    """The text as a reader sees it: compatibility forms folded (full-width letters and digits, ligatures),
    invisible format characters (zero-width spaces, soft hyphens, direction marks) removed, every script's
    digits written as ASCII ones, and letters that look Latin made Latin. ASCII text is its own folding
    (every ASCII character is NFKC-stable, and none is a lookalike, a format character or a foreign
    digit), so it is returned as it is: most text checked is ASCII, and the loop below is per character."""
    if value.isascii():
        return value
    folded = unicodedata.normalize("NFKC", value).translate(_LOOKALIKES)
    out = []
    for ch in folded:
        if unicodedata.category(ch) == "Cf":
            continue
        digit = unicodedata.digit(ch, None) if not ch.isascii() else None
        out.append(str(digit) if digit is not None else ch)
    return "".join(out)


def has_nino(value: str, *, identifier: bool = False) -> bool:
    """Whether ``value`` holds anything shaped like a National Insurance number (or a temporary reference);
    for an ``identifier``, a whole NINO standing on its own."""
    folded = _folded(value)
    if identifier:
        return any(check_nino(m.group()).valid for m in _WHOLE_NINO.finditer(folded))
    return _NINO_SHAPED.search(folded) is not None


def refuse_nino(value: str, what: str, *, identifier: bool = False) -> str:
    """``value`` unchanged, or NINO_IN_FREE_TEXT (a kind of BAD_USER_INPUT) when it holds a NINO-shaped value.
    The one check every free-text input, and every key a caller chooses, passes through."""
    if has_nino(value, identifier=identifier):
        raise NinoInFreeText(
            f"the {what} seems to hold a National Insurance number: what you write here is kept and read by "
            "other organisations, so leave it out (the hub already knows whom it is about)"
        )
    return value


def free_text(value: str, what: str, *, maximum: int = 2000) -> str:
    """Free text, trimmed: present, at most ``maximum`` characters, printable, and with no NINO in it.

    BAD_USER_INPUT naming ``what`` when empty, too long or holding control characters; NINO_IN_FREE_TEXT
    (a kind of BAD_USER_INPUT) when it holds a NINO-shaped value."""
    value = value.strip()
    if not 1 <= len(value) <= maximum:
        raise BadUserInput(f"give the {what}, at most {maximum:,} characters")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise BadUserInput(f"the {what} may not hold control characters")
    return refuse_nino(value, what)
