"""The purpose assertion: what the hub signs onto every call it makes to a source's subgraph.

A short-lived JWT (EdDSA, the hub's own key, published as a JWKS at ``/.well-known/jwks.json``), typed
``purpose+jwt`` so that it can never be mistaken for a caller's bearer token (RFC 8725's explicit typing),
addressed to one source (``aud``), and bound to the exact request body (``body_sha256``), so it cannot be
replayed for other people or other fields. It says who asks (``org``, ``org_type``), for what (``purpose``,
``legal_basis``), under which hub audit record (``audit_id``), which fields (``fields``, contract
coordinates), and whose councils' records may be answered (``councils``; null: every council's).

The subgraph verifies it (:class:`AssertionVerifier`) before reading anything, and then enforces its own
copy of what the hub may ask of it for that purpose: the assertion is the hub's word, not the data owner's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from resolvers.sources.contract import Ask

__all__ = [
    "ASSERTION_TYPE",
    "Assertion",
    "AssertionSigner",
    "AssertionVerifier",
    "InvalidAssertion",
    "assertion_of",
    "body_digest",
]

ASSERTION_TYPE = "purpose+jwt"
_REQUIRED = ["iss", "aud", "iat", "nbf", "exp", "jti", "purpose", "legal_basis", "org", "org_type", "audit_id"]


class InvalidAssertion(Exception):
    """An assertion that does not verify; ``reason`` is stable and safe to log (never the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified assertion's claims."""

    jti: str
    audience: str
    purpose: str
    legal_basis: str
    org: str
    org_type: str
    audit_id: uuid.UUID
    fields: frozenset[str]
    councils: frozenset[str] | None
    expires: int


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


class AssertionSigner:
    """The hub's side: mints one assertion per call.

    A JWS compact token made here rather than by pyjwt's generic ``encode``: the header is fixed per key and
    encoded once, the claims by orjson, the signature by the Ed25519 key itself. pyjwt's path re-checked and
    re-serialised the same key and header on every call, about 5% of the hub's CPU per request over
    subgraphs; the subgraph's verifier (pyjwt) reads the result as it would its own (tests/sources)."""

    def __init__(self, private_key: Ed25519PrivateKey, kid: str, *, issuer: str, lifetime_seconds: int = 60) -> None:
        self._key = private_key
        self.kid = kid
        self.issuer = issuer
        self.lifetime_seconds = lifetime_seconds
        self._header = _b64url(orjson.dumps({"alg": "EdDSA", "kid": kid, "typ": ASSERTION_TYPE})) + b"."

    def mint(self, *, audience: str, ask: Ask, fields: Sequence[str], body: bytes, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": ask.org,
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.lifetime_seconds,
            "jti": os.urandom(16).hex(),  # as unique as uuid4().hex, without making a UUID per call
            "purpose": ask.purpose,
            "legal_basis": ask.legal_basis,
            "org": ask.org,
            "org_type": ask.org_type,
            "audit_id": str(ask.audit_id),
            "fields": sorted(fields),
            "councils": None if ask.councils is None else sorted(ask.councils),
            "body_sha256": body_digest(body),
        }
        signing_input = self._header + _b64url(orjson.dumps(claims))
        return (signing_input + b"." + _b64url(self._key.sign(signing_input))).decode("ascii")


class AssertionVerifier:
    """The subgraph's side: the hub's public keys (a JWKS document), the hub's issuer, this source's id."""

    def __init__(self, jwks: Mapping[str, Any], *, issuer: str, audience: str, leeway_seconds: int = 5) -> None:
        self._keys: dict[str, Any] = {}
        for raw in jwks.get("keys", []):
            # Only the hub's Ed25519 keys, each named; a key that does not parse is skipped on its own (one
            # bad entry in the document must not refuse every assertion signed by the good ones).
            if not isinstance(raw, Mapping) or not isinstance(raw.get("kid"), str) or not raw["kid"]:
                continue
            try:
                key = jwt.PyJWK(dict(raw))
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue
            if key.algorithm_name != "EdDSA" or not isinstance(key.key, Ed25519PublicKey):
                continue
            self._keys[raw["kid"]] = key.key
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds

    def verify(self, token: str, body: bytes) -> Assertion:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidAssertion("malformed") from None
        if header.get("typ") != ASSERTION_TYPE:
            raise InvalidAssertion("not a purpose assertion")
        if header.get("alg") != "EdDSA":
            raise InvalidAssertion("algorithm not accepted")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidAssertion("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidAssertion("expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidAssertion("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidAssertion("wrong issuer") from None
        except jwt.PyJWTError:
            raise InvalidAssertion("invalid") from None
        return assertion_of(claims, body, audience=self.audience)


def assertion_of(claims: Mapping[str, Any], body: bytes, *, audience: str) -> Assertion:
    """The claims of an assertion whose signature, times, issuer and audience have verified, read: bound
    to ``body``, and each claim of the shape the hub mints (the one reading both verifiers share)."""
    if claims.get("body_sha256") != body_digest(body):
        raise InvalidAssertion("not for this request")
    fields, councils = claims.get("fields"), claims.get("councils")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise InvalidAssertion("invalid fields")
    if councils is not None and (not isinstance(councils, list) or not all(isinstance(c, str) for c in councils)):
        raise InvalidAssertion("invalid councils")
    try:
        audit_id = uuid.UUID(str(claims["audit_id"]))
    except ValueError:
        raise InvalidAssertion("invalid audit id") from None
    return Assertion(
        jti=str(claims["jti"]),
        audience=audience,
        purpose=str(claims["purpose"]),
        legal_basis=str(claims["legal_basis"]),
        org=str(claims["org"]),
        org_type=str(claims["org_type"]),
        audit_id=audit_id,
        fields=frozenset(fields),
        councils=None if councils is None else frozenset(councils),
        expires=int(claims["exp"]),
    )
