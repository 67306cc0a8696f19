"""Pure identity logic: NINO rules, keyed hashing and pseudonyms. No I/O happens here."""

from linkage.errors import InvalidNino, LinkageError, UnknownKey
from linkage.hashing import KeyedHash, KeyRing
from linkage.nino import NinoCheck, check_nino, normalise_nino
from linkage.types import HashedNino, KeyId, NormalisedNino, Pseudonym

__all__ = [
    "HashedNino",
    "InvalidNino",
    "KeyId",
    "KeyRing",
    "KeyedHash",
    "LinkageError",
    "NinoCheck",
    "NormalisedNino",
    "Pseudonym",
    "UnknownKey",
    "check_nino",
    "normalise_nino",
]
