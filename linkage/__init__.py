"""Pure identity logic: NINO rules, keyed hashing and pseudonyms. No I/O happens here."""

from linkage.bands import Band, Thresholds, band_for, nino_match_band, nino_names_agree
from linkage.blocking import block, blocking_keys, sessions
from linkage.compare import COMPARISONS, compare, prepare
from linkage.errors import InvalidNino, LinkageError, UnknownKey
from linkage.hashing import KeyedHash, KeyRing, subject_hash, user_hash
from linkage.model import FieldWeight, FSModel
from linkage.nino import NinoCheck, check_nino, normalise_nino
from linkage.placeholders import PLACEHOLDER_DOBS, is_placeholder_dob, known_dob, parse_placeholder_dobs
from linkage.records import Demographics, columns_of
from linkage.types import HashedNino, KeyId, NormalisedNino, Pseudonym

__all__ = [
    "COMPARISONS",
    "PLACEHOLDER_DOBS",
    "Band",
    "Demographics",
    "FSModel",
    "FieldWeight",
    "HashedNino",
    "InvalidNino",
    "KeyId",
    "KeyRing",
    "KeyedHash",
    "LinkageError",
    "NinoCheck",
    "NormalisedNino",
    "Pseudonym",
    "Thresholds",
    "UnknownKey",
    "band_for",
    "block",
    "blocking_keys",
    "check_nino",
    "columns_of",
    "compare",
    "is_placeholder_dob",
    "known_dob",
    "nino_match_band",
    "nino_names_agree",
    "normalise_nino",
    "parse_placeholder_dobs",
    "prepare",
    "sessions",
    "subject_hash",
    "user_hash",
]
