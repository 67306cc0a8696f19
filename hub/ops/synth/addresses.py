"""Addresses stage: the streets and postcodes of each synthetic council's area, filled house by house
so that neighbours share postcodes, and the older addresses of people who moved.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from hub.ops.synth import names as nm
from hub.ops.synth.draws import Weighted
from hub.ops.synth.params import SynthParams

__all__ = ["Address", "AddressBook", "council_areas"]


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    line2: str | None
    town: str
    postcode: str


@dataclass(slots=True)
class _Street:
    town: nm.Town
    name: str
    district: str
    next_number: int = 1
    postcodes: list[str] = field(default_factory=list)
    block: int = 0
    flats_left: int = 0
    flat_number: int = 0


_INWARD_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # C, I, K, M, O and V never appear in an inward code
_POSTCODE_BLOCK: Final = 14  # house numbers that share one postcode
_NEW_STREET_CHANCE: Final = 1 / 30


class AddressBook:
    """Streets of each council's area, filled house by house so that neighbours share postcodes."""

    def __init__(self, councils: Sequence[str]) -> None:
        self._areas = {c: nm.AREAS[i % len(nm.AREAS)] for i, c in enumerate(councils)}
        self._towns = {c: Weighted.of((t, t.weight) for t in a.towns) for c, a in self._areas.items()}
        self._streets: dict[str, list[_Street]] = {c: [] for c in councils}
        self._street_names: set[tuple[str, str]] = set()
        self._postcodes: set[str] = set()

    def rent_index(self, council: str) -> float:
        return self._areas[council].rent_index

    def new_address(self, rng: random.Random, council: str) -> Address:
        streets = self._streets[council]
        if not streets or rng.random() < _NEW_STREET_CHANCE:
            street = self._new_street(rng, council)
            streets.append(street)
        else:
            street = streets[rng.randrange(len(streets))]
        if rng.random() < 0.25:
            if street.flats_left == 0:
                street.block, street.flats_left, street.flat_number = street.next_number, rng.randint(4, 24), 0
                street.next_number += 1
            street.flat_number += 1
            street.flats_left -= 1
            number = street.block
            line1 = f"Flat {street.flat_number}, {number} {street.name}"
        else:
            number = street.next_number
            street.next_number += 1 if rng.random() < 0.7 else 2
            line1 = f"{number} {street.name}"
        index = (number - 1) // _POSTCODE_BLOCK
        while len(street.postcodes) <= index:
            street.postcodes.append(self._new_postcode(rng, street.district))
        line2 = rng.choice(street.town.localities) if rng.random() < 0.2 else None
        return Address(line1, line2, street.town.name, street.postcodes[index])

    def older_address(self, rng: random.Random, council: str, current: Address) -> Address:
        # A move within the council's area; a different postcode, or the move would be invisible.
        for _ in range(20):
            address = self.new_address(rng, council)
            if address.postcode != current.postcode:
                return address
        return self._on_new_street(rng, council)

    def _on_new_street(self, rng: random.Random, council: str) -> Address:
        street = self._new_street(rng, council)
        self._streets[council].append(street)
        street.next_number = 2
        street.postcodes.append(self._new_postcode(rng, street.district))
        return Address(f"1 {street.name}", None, street.town.name, street.postcodes[0])

    def _new_street(self, rng: random.Random, council: str) -> _Street:
        town = self._towns[council].pick(rng)
        name = ""
        for attempt in range(40):
            name = f"{rng.choice(nm.STREET_STEMS)} {rng.choice(nm.STREET_SUFFIXES)}"
            if attempt >= 10:
                name = f"{rng.choice(nm.STREET_PREFIXES)} {name}"
            if (town.name, name) not in self._street_names:
                break
        # After 40 tries the name repeats: real towns have two Station Roads too.
        self._street_names.add((town.name, name))
        return _Street(town=town, name=name, district=rng.choice(town.districts))

    def _new_postcode(self, rng: random.Random, district: str) -> str:
        code = ""
        for _ in range(100):
            code = f"{district} {rng.randrange(10)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
            if code not in self._postcodes:
                break
        self._postcodes.add(code)
        return code


def council_areas(params: SynthParams) -> list[tuple[str, str]]:
    """(postcode district, council code) for the synthetic councils: the council-area table they imply."""
    return [
        (district, council)
        for i, council in enumerate(params.councils)
        for town in nm.AREAS[i % len(nm.AREAS)].towns
        for district in town.districts
    ]
