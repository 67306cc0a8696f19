"""Shared identity types, defined once."""

from __future__ import annotations

from typing import NewType

__all__ = ["HashedNino", "KeyId", "NormalisedNino", "Pseudonym"]

#: A NINO that passed :func:`linkage.nino.normalise_nino`: upper case, no spaces or separators.
NormalisedNino = NewType("NormalisedNino", str)
#: Hex HMAC-SHA256 of a normalised NINO under one hub key; meaningless without the key id.
HashedNino = NewType("HashedNino", str)
#: Identifier of one secret key in a key ring (hashing keys rotate by key id).
KeyId = NewType("KeyId", str)
#: The subject id one recipient organisation sees; different for every recipient.
Pseudonym = NewType("Pseudonym", str)
