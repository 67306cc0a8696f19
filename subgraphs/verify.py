"""The purpose assertion's verification on the subgraph's hot path: every check pyjwt makes, without pyjwt.

:class:`~resolvers.sources.assertion.AssertionVerifier` verifies with ``jwt.decode``, whose generic path costs
more than the signature itself (the header decoded twice, the key prepared again on every call, a
character-by-character alphabet check in Python). This one keeps its key set (read once, by kid, each key an
Ed25519 public key already prepared) and its answers: the same :class:`Assertion`, the same
:class:`InvalidAssertion` reasons, in the same order of checks:

1. the token: three base64url segments (strict alphabet, no padding) and a JSON object header
   (else ``malformed``; a ``kid`` that is not a string, or a ``crit`` or ``b64`` header, too: the hub
   never sends a detached payload);
2. ``typ`` ``purpose+jwt``, ``alg`` ``EdDSA`` only, a known ``kid``;
3. the Ed25519 signature over ``header.payload``, then the payload a JSON object;
4. the claims, in pyjwt's order: the required ones present, ``iat`` and ``nbf`` not in the future, ``exp``
   not past (``expired``), ``iss`` (``wrong issuer``), ``aud`` naming this source (``wrong audience``),
   ``sub`` and ``jti`` strings;
5. ``body_sha256`` the sha256 of this exact body (``not for this request``), then the hub's own claims.

Where pyjwt is lenient in what it decodes (padding, say), this is stricter, never looser; tests/subgraphs/
test_verify.py checks each refusal against the pyjwt verifier's.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature

from resolvers.sources.assertion import (
    ASSERTION_TYPE,
    Assertion,
    AssertionVerifier,
    InvalidAssertion,
    assertion_of,
)

__all__ = ["FastVerifier"]

_REQUIRED = ("iss", "aud", "iat", "nbf", "exp", "jti", "purpose", "legal_basis", "org", "org_type", "audit_id")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TOKEN = 16_384  # characters: an assertion is under 1 KiB; past this it is not one, and is not decoded


def _decode(segment: str) -> bytes:
    """A base64url segment's bytes (a ValueError when it is not one, strictly: alphabet, length, no padding)."""
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise ValueError("not base64url")  # unused bits set: one of several spellings of the same bytes
    return raw


def _object(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _whole(value: object) -> int:
    """pyjwt's reading of a NumericDate: ``int(value)``; a ValueError when it has none."""
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (ValueError, TypeError, OverflowError):
        raise ValueError("not a NumericDate") from None


class FastVerifier(AssertionVerifier):
    """:class:`AssertionVerifier` (the same key set, read by its constructor) with a direct verify."""

    def __init__(
        self, jwks: Mapping[str, Any], *, issuer: str, audience: str, leeway_seconds: int = 5, now: Any = time.time
    ) -> None:
        super().__init__(jwks, issuer=issuer, audience=audience, leeway_seconds=leeway_seconds)
        self._now = now

    def verify(self, token: str, body: bytes) -> Assertion:
        header, signing_input, payload, signature = self._parts(token)
        if header.get("typ") != ASSERTION_TYPE:
            raise InvalidAssertion("not a purpose assertion")
        if header.get("alg") != "EdDSA":
            raise InvalidAssertion("algorithm not accepted")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidAssertion("unknown signing key")
        try:
            key.verify(signature, signing_input)
            claims = _object(payload)
        except (InvalidSignature, ValueError):
            raise InvalidAssertion("invalid") from None
        self._check_claims(claims)
        return assertion_of(claims, body, audience=self.audience)  # exp is checked a NumericDate above

    @staticmethod
    def _parts(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
        """(header, signing input, payload, signature), each segment decoded; ``malformed`` when it is not a
        compact JWS of ours (a ``crit`` or ``b64`` header too: the hub never sends a detached payload)."""
        if len(token) > _MAX_TOKEN or not token.isascii():
            raise InvalidAssertion("malformed")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidAssertion("malformed")
        try:
            header = _object(_decode(parts[0]))
            payload, signature = _decode(parts[1]), _decode(parts[2])
        except ValueError:  # orjson's JSONDecodeError is one
            raise InvalidAssertion("malformed") from None
        if ("kid" in header and not isinstance(header["kid"], str)) or "crit" in header or "b64" in header:
            raise InvalidAssertion("malformed")
        signing_input = token[: len(parts[0]) + 1 + len(parts[1])].encode("ascii")
        return header, signing_input, payload, signature

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """The registered claims, in pyjwt's order and with its verdicts."""
        for claim in _REQUIRED:
            if claims.get(claim) is None:
                raise InvalidAssertion("invalid")
        now, leeway = self._now(), self.leeway_seconds
        try:
            iat, nbf, exp = _whole(claims["iat"]), _whole(claims["nbf"]), _whole(claims["exp"])
        except ValueError:
            raise InvalidAssertion("invalid") from None
        if iat > now + leeway or nbf > now + leeway:
            raise InvalidAssertion("invalid")
        if exp <= now - leeway:
            raise InvalidAssertion("expired")
        if claims["iss"] != self.issuer:  # a non-string is not the issuer either
            raise InvalidAssertion("wrong issuer")
        audiences = claims["aud"]
        if not audiences:
            raise InvalidAssertion("invalid")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise InvalidAssertion("wrong audience")
        if self.audience not in audiences:
            raise InvalidAssertion("wrong audience")
        if "sub" in claims and not isinstance(claims["sub"], str):
            raise InvalidAssertion("invalid")
        if not isinstance(claims["jti"], str):
            raise InvalidAssertion("invalid")
