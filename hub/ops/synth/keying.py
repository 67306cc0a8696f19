"""Noise and error injection: what a council keyed is the truth, with errors; and which people a council
holds (a weighted sample without replacement).

Council records (HB claims and their non-dependants, social care clients) carry these errors, each
labelled in ``SynthData.perturbations[record_id]``:

=====================  ===================================================================================
label                  what happened (the rate that drives it)
=====================  ===================================================================================
``nino_missing``       nino is NULL (HB: ``nino_missing_rate``; social care: ``1 - social_care_nino_present``)
``nino_mistyped``      of the present NINOs, ``nino_mistyped_rate``: one digit changed or two adjacent
                       digits transposed (still valid-looking), or, for a fifth of them, keyed so that
                       it is no longer a valid NINO (O for 0, bad or missing suffix, digit dropped)
``nino_formatted``     of the present NINOs, ``nino_formatted_rate``: spaces or lower case only; it
                       normalises (``linkage.normalise_nino``) to the value keyed
``nickname``           given name is a nickname or spelling variant (``nickname_rate``, among the records
                       whose given name has one: see ``names.name_variants``)
``name_typo``          one typo in the given or family name (``name_typo_rate``)
``dob_swap``           day and month transposed (``dob_swap_rate``, among the records where the swap
                       gives a different valid date not after ``reference_date``)
``moved_address``      the council holds an older address with a different postcode (``moved_address_rate``)
``dob_missing``        date of birth not known: NULL (``hb_dob_missing_rate``, ``non_dependant_dob_missing_rate``,
                       ``social_care_dob_missing_rate``)
``dob_placeholder``    date of birth not known, held as a placeholder (1900-01-01, sometimes 1901-01-01:
                       ``rates.DOB_PLACEHOLDER_DATES``; ``*_dob_placeholder_rate``)
``other_name``         the given name held is another of the person's names (a middle name used as the
                       first, the name after Mohammed: :mod:`hub.ops.synth.realities`, as below)
``suffix``             a generational suffix held (Jnr, Snr), perhaps typed into the family name
``earlier_surname``    the family name held is the one before a change on marriage
``convention_surname`` the family name held is a convention surname with or without the family name
                       proper, or a husband's family name for a Begum
``actual_dob``         the true date of birth where DWP holds an estimate (1 January)
=====================  ===================================================================================

The date of birth's gaps are drawn from a stream of their own (:func:`recorded_dob`), so they change no
other draw: the same seed gives the same records, with or without them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from hub.ops.synth import names as nm
from hub.ops.synth.addresses import Address, AddressBook
from hub.ops.synth.draws import Weighted
from hub.ops.synth.params import SynthParams
from hub.ops.synth.people import Person
from hub.ops.synth.rates import DOB_PLACEHOLDER_DATES
from hub.ops.synth.realities import HeldNames, held_labels

__all__ = ["as_keyed", "as_keyed_nino", "keyed_name_and_dob", "recorded_dob", "weighted_order"]


@dataclass(frozen=True, slots=True)
class _Keyed:
    nino: str | None
    given: str
    family: str
    dob: date
    address: Address


_KEY_NEIGHBOURS: Final = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji", "v": "cfgb",
    "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip
_BAD_SUFFIXES: Final = "EFGHJKLMNPRSTWXYZ"


def _typo(rng: random.Random, name: str) -> str:
    """One keying slip: neighbouring key, dropped or doubled letter, transposition, lost punctuation."""
    for _ in range(30):
        op = rng.randrange(5)
        i = rng.randrange(len(name))
        c = name[i]
        if op == 0 and c.lower() in _KEY_NEIGHBOURS:
            r = rng.choice(_KEY_NEIGHBOURS[c.lower()])
            candidate = name[:i] + (r.upper() if c.isupper() else r) + name[i + 1 :]
        elif op == 1 and len(name) > 3 and c.isalpha() and i > 0:
            candidate = name[:i] + name[i + 1 :]
        elif op == 2 and c.isalpha() and i > 0:
            candidate = name[: i + 1] + c + name[i + 1 :]
        elif op == 3 and 0 < i < len(name) - 1 and name[i] != name[i + 1] and name[i : i + 2].isalpha():
            candidate = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == 4 and any(ch in name for ch in " -'"):
            candidate = name.replace("'", "", 1) if "'" in name else name.replace("-", " ", 1).replace(" ", "", 1)
        else:
            continue
        if candidate and candidate != name:
            return candidate
    return name + name[-1]


def _mistype_nino(rng: random.Random, nino: str) -> str:
    digits = nino[2:8]
    kind = rng.random()
    if kind < 0.8:
        pairs = [i for i in range(5) if digits[i] != digits[i + 1]]
        if kind >= 0.5 and pairs:  # adjacent digits transposed
            i = rng.choice(pairs)
            digits = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        else:  # one digit changed
            i = rng.randrange(6)
            digits = digits[:i] + str((int(digits[i]) + rng.randint(1, 9)) % 10) + digits[i + 1 :]
        return nino[:2] + digits + nino[8]
    # Keyed so that it no longer looks like a NINO at all.
    invalid = rng.randrange(4)
    if invalid == 0 and "0" in digits:
        return nino[:2] + digits.replace("0", "O", 1) + nino[8]
    if invalid == 1:
        return nino[:8] + rng.choice(_BAD_SUFFIXES)
    if invalid == 2:
        return nino[:8]
    i = rng.randrange(6)
    return nino[:2] + digits[:i] + digits[i + 1 :] + nino[8]


def _format_nino(rng: random.Random, value: str) -> str:
    draw = rng.random()
    if draw < 0.6 and len(value) == 9:
        return f"{value[:2]} {value[2:4]} {value[4:6]} {value[6:8]} {value[8]}"
    if draw < 0.85:
        return value.lower()
    return f" {value} "


def _swap_day_month(dob: date, ref: date) -> date | None:
    if dob.day > 12 or dob.day == dob.month:
        return None
    swapped = date(dob.year, dob.day, dob.month)
    return swapped if swapped <= ref else None


def as_keyed(
    rng: random.Random,
    params: SynthParams,
    book: AddressBook,
    p: Person,
    nino_present: float,
    labels: set[str],
    held: HeldNames | None = None,
) -> _Keyed:
    nino = as_keyed_nino(rng, params, p, nino_present, labels)
    given, family, dob = keyed_name_and_dob(rng, params, p, labels, held)
    address = p.address
    if rng.random() < params.moved_address_rate:
        address = book.older_address(rng, p.council, p.address)
        labels.add("moved_address")
    return _Keyed(nino, given, family, dob, address)


def as_keyed_nino(
    rng: random.Random, params: SynthParams, p: Person, nino_present: float, labels: set[str]
) -> str | None:
    """The NINO as a system holds it: held at rate ``nino_present``, now and then mistyped or spaced."""
    if rng.random() >= nino_present:
        labels.add("nino_missing")
        return None
    nino = p.nino
    if rng.random() < params.nino_mistyped_rate:
        nino = _mistype_nino(rng, nino)
        labels.add("nino_mistyped")
    if rng.random() < params.nino_formatted_rate:
        nino = _format_nino(rng, nino)
        labels.add("nino_formatted")
    return nino


def keyed_name_and_dob(
    rng: random.Random, params: SynthParams, p: Person, labels: set[str], held: HeldNames | None = None
) -> tuple[str, str, date]:
    """The given name, family name and date of birth keyed: what the system holds (``held``, or the
    person's own), with keying errors."""
    given, family, dob = (held.given, held.family, held.dob) if held else (p.given, p.family, p.dob)
    if held:
        labels.update(held_labels(p, held))
    variants = nm.name_variants(given, p.sex)
    if variants and rng.random() < params.nickname_rate:
        given = rng.choice(variants)
        labels.add("nickname")
    if rng.random() < params.name_typo_rate:
        if rng.random() < 0.5:
            given = _typo(rng, given)
        else:
            family = _typo(rng, family)
        labels.add("name_typo")
    swapped = _swap_day_month(dob, params.reference_date)
    if swapped is not None and rng.random() < params.dob_swap_rate:
        dob = swapped
        labels.add("dob_swap")
    return given, family, dob


_PLACEHOLDERS: Final = Weighted.of(DOB_PLACEHOLDER_DATES)


def recorded_dob(rng: random.Random, dob: date, *, missing: float, placeholder: float, labels: set[str]) -> date | None:
    """The date of birth as a council holds it: ``dob``; or, with probability ``missing``, none (NULL); or,
    with probability ``placeholder``, a placeholder date. ``rng`` is the gaps' own stream (see above)."""
    draw = rng.random()
    if draw < missing:
        labels.add("dob_missing")
        return None
    if draw < missing + placeholder:
        labels.add("dob_placeholder")
        return _PLACEHOLDERS.pick(rng)
    return dob


def weighted_order(rng: random.Random, weights: Sequence[tuple[Person, float]]) -> list[Person]:
    # Efraimidis-Spirakis: ordering by u ** (1 / w), the first k are a weighted sample without
    # replacement. Zero weights are never drawn.
    keyed = [(rng.random() ** (1.0 / w), p.person_id, p) for p, w in weights if w > 0]
    keyed.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [p for _, _, p in keyed]
