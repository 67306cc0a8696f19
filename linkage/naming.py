"""How UK records write a person's names, beyond a given and a family name: the parts linkage compares.

A system holds a given name (sometimes with a middle name typed after it), perhaps middle names, a
"known as" name, a generational suffix and earlier surnames. People are found by any of their names, so
each record is read into:

- a **first name**: the given name's first word, except a religious prefix (Mohammed and its spellings,
  ``NAME_PREFIXES``) that is followed by the name the person is called by ("Mohammed Imran" is Imran to
  the council that dropped the prefix);
- **other names**: the rest of the given name, the middle names and the "known as" name, any of which a
  second system may hold as the first (a middle name used as the first, Bob for Robert);
- a **family name** without the words that say little about the family (``CONVENTION_SURNAMES``: Singh,
  Kaur, Begum and the like, written with or without the family name proper) and without a suffix;
- a **suffix** (Jnr, Snr, II, III): a father and son of one name at one address differ by nothing else;
- **previous family names** (changed on marriage or by deed poll).

Words are normalised names (:func:`linkage.normalise.normalise_name`): upper case, letters and spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkage.normalise import normalise_name

__all__ = ["CONVENTION_SURNAMES", "NAME_PREFIXES", "SUFFIXES", "Names", "read_names"]

#: Spellings of a given name that Muslim naming often puts before the name a person is called by.
NAME_PREFIXES = frozenset(
    {"MOHAMMED", "MOHAMMAD", "MOHAMED", "MOHAMAD", "MUHAMMAD", "MUHAMMED", "MUHAMAD", "MOHD", "MD", "MOHAMMUD"}
)

#: Surnames a religion or custom gives whole groups of people, written instead of, or beside, the family
#: name: agreeing on one says little, and one record having it where another has the family name says
#: nothing against. (Sikh Singh and Kaur; Begum, Khatun, Bibi and Khanum for Muslim women, Bangladeshi and
#: Pakistani especially; Devi for Hindu women.)
CONVENTION_SURNAMES = frozenset({"SINGH", "KAUR", "BEGUM", "KHATUN", "BIBI", "KHANUM", "DEVI"})

#: Generational suffixes as written, to one spelling each.
SUFFIXES = {
    "JR": "JNR",
    "JNR": "JNR",
    "JUNIOR": "JNR",
    "SR": "SNR",
    "SNR": "SNR",
    "SENIOR": "SNR",
    "II": "II",
    "III": "III",
    "IV": "IV",
}

_SEPARATORS = re.compile(r"[;,/|]")


@dataclass(frozen=True, slots=True)
class Names:
    first: str | None
    others: tuple[str, ...]
    family: str | None
    suffix: str | None
    previous: tuple[str, ...]


def _words(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    normal = normalise_name(value)
    return normal.split(" ") if normal else []


def _strip_suffix(words: list[str]) -> tuple[list[str], str | None]:
    """A suffix typed as a name's last word ("SMITH JNR"), taken off; never the only word."""
    if len(words) > 1 and words[-1] in SUFFIXES:
        return words[:-1], SUFFIXES[words[-1]]
    return words, None


def _family(words: list[str]) -> str | None:
    """The family name without convention words, unless they are all it has."""
    proper = [w for w in words if w not in CONVENTION_SURNAMES]
    return " ".join(proper or words) or None


def read_names(
    given: object,
    family: object,
    middle: object = None,
    known_as: object = None,
    suffix: object = None,
    previous: object = None,
) -> Names:
    given_words, given_suffix = _strip_suffix(_words(given))
    family_words, family_suffix = _strip_suffix(_words(family))
    held_suffix = _words(suffix)
    suffix_value = SUFFIXES.get(held_suffix[0]) if held_suffix else None
    if len(given_words) > 1 and given_words[0] in NAME_PREFIXES:
        given_words = [*given_words[1:], given_words[0]]
    first = given_words[0] if given_words else None
    others: list[str] = []
    for word in [*given_words[1:], *_words(middle), *_words(known_as)]:
        if word != first and word not in others and word not in CONVENTION_SURNAMES and len(word) > 1:
            others.append(word)
    previous_names = tuple(
        name
        for part in (_SEPARATORS.split(previous) if isinstance(previous, str) else ())
        if (name := _family(_words(part)))
    )
    return Names(
        first=first,
        others=tuple(others),
        family=_family(family_words),
        suffix=suffix_value or family_suffix or given_suffix,
        previous=previous_names,
    )
