"""Keyed hashes of NINOs and per-recipient pseudonyms.

A plain SHA-256 of a NINO is reversed by enumerating the ~3.7 x 10^8 valid numbers in minutes, so the hub
only ever stores ``HMAC-SHA256(key, normalised NINO)`` with the id of the key. Keys rotate by key id: the
ring hashes with its current key and can still hash with older ones while an index is re-keyed.

What leaves the hub as a subject id is a pseudonym made with a key derived for the recipient
organisation, so two recipients cannot join their outputs; only the hub can map back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from linkage.errors import UnknownKey
from linkage.types import HashedNino, KeyId, NormalisedNino, Pseudonym

__all__ = ["KeyRing", "KeyedHash", "subject_hash", "user_hash"]

_MIN_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class KeyedHash:
    key_id: KeyId
    value: HashedNino


@dataclass(frozen=True)
class KeyRing:
    """Secret keys by id, with the one that new hashes use.

    ``pseudonym_key`` is the secret from which each recipient organisation's pseudonym key is derived.
    """

    # Key material never appears in a repr (and so never in a log line or a test failure).
    keys: Mapping[KeyId, bytes] = field(repr=False)
    current: KeyId
    pseudonym_key: bytes = field(repr=False)
    _org_keys: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.current not in self.keys:
            problems.append(f"the current key id {self.current!r} is not in the key ring")
        problems += [
            f"key {key_id!r} is {len(key)} bytes; at least {_MIN_KEY_BYTES} are required"
            for key_id, key in self.keys.items()
            if len(key) < _MIN_KEY_BYTES
        ]
        if len(self.pseudonym_key) < _MIN_KEY_BYTES:
            problems.append(f"the pseudonym key is shorter than {_MIN_KEY_BYTES} bytes")
        if problems:
            raise ValueError("invalid key ring: " + "; ".join(problems))

    def hash_nino(self, nino: NormalisedNino, key_id: KeyId | None = None) -> KeyedHash:
        kid = self.current if key_id is None else key_id
        try:
            key = self.keys[kid]
        except KeyError:
            raise UnknownKey(kid) from None
        digest = hmac.digest(key, b"nino:" + nino.encode("ascii"), "sha256").hex()
        return KeyedHash(kid, HashedNino(digest))

    def hash_all(self, nino: NormalisedNino) -> list[KeyedHash]:
        """The NINO's hash under every key in the ring: lookups keep working while an index is re-keyed."""
        return [self.hash_nino(nino, key_id) for key_id in self.keys]

    def hash_text(self, purpose: str, value: str) -> str:
        """Keyed hash of any other identifier (a user id, say), separated from NINO hashes by ``purpose``."""
        if not purpose or "\x00" in purpose:
            raise ValueError("a hash purpose is a non-empty label without NUL characters")
        # Domain-separated from NINO hashes ("nino:" prefix) and unambiguous: "text", NUL, label, NUL, value.
        message = b"text\x00" + purpose.encode() + b"\x00" + value.encode()
        return hmac.digest(self.keys[self.current], message, "sha256").hex()

    def pseudonym(self, org_id: str, subject: str) -> Pseudonym:
        """The subject id ``org_id`` sees for ``subject`` (a stable reference to the person, e.g. the
        normalised NINO): stable per org, unjoinable across orgs, and unaffected by rotating the NINO
        hashing keys (it uses the separate pseudonym secret)."""
        org_key = self._org_keys.get(org_id)
        if org_key is None:
            org_key = hmac.new(self.pseudonym_key, b"org:" + org_id.encode(), hashlib.sha256).digest()
            self._org_keys[org_id] = org_key
        digest = hmac.digest(org_key, b"subject:" + subject.encode(), "sha256").hex()
        return Pseudonym("ps_" + digest[:32])

    def stable_hash(self, purpose: str, value: str) -> str:
        """Keyed hash that survives NINO-key rotation (audit user ids must stay joinable over years)."""
        if not purpose or "\x00" in purpose:
            raise ValueError("a hash purpose is a non-empty label without NUL characters")
        message = b"stable\x00" + purpose.encode() + b"\x00" + value.encode()
        return hmac.digest(self.pseudonym_key, message, "sha256").hex()


def subject_hash(ring: KeyRing, nino: NormalisedNino) -> str:
    """A person as the hub's own records name them (consent, staff identities): a keyed hash made with the
    stable secret, so a consent or a staff link survives NINO-key rotation."""
    return ring.stable_hash("consent-subject", nino)


def user_hash(ring: KeyRing, org: str, user: str) -> str:
    """A user (of an organisation) as the hub records them: a keyed hash, stable across key rotation."""
    return ring.stable_hash("user", f"{org}/{user}")
