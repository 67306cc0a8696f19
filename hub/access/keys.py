"""Making keys and tokens: the hub's HMAC key ring, and (for the demo and tests) an issuer's signing key.

In production the key ring comes from a secret and tokens from the councils' identity provider; these
helpers exist so a newcomer's demo and the tests use real keys and real signatures, never shortcuts.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from hub.errors import ConfigError
from linkage import KeyId, KeyRing

__all__ = ["IssuerKey", "load_key_ring", "new_key_ring_document", "rotate_key_ring", "write_key_ring"]


def new_key_ring_document(key_id: str = "k1") -> dict[str, Any]:
    return {
        "current": key_id,
        "keys": {key_id: base64.b64encode(secrets.token_bytes(32)).decode()},
        "pseudonym_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def rotate_key_ring(document: dict[str, Any], key_id: str) -> dict[str, Any]:
    """A new current key; the old ones stay (lookups and re-keying need them until the index moves)."""
    if key_id in document["keys"]:
        raise ConfigError([f"the key ring already has a key {key_id!r}: choose a new key id"])
    return {
        **document,
        "current": key_id,
        "keys": {**document["keys"], key_id: base64.b64encode(secrets.token_bytes(32)).decode()},
    }


def write_key_ring(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))


def load_key_ring(path: Path) -> KeyRing:
    try:
        doc = json.loads(path.read_text())
        keys = {KeyId(kid): base64.b64decode(value, validate=True) for kid, value in doc["keys"].items()}
        return KeyRing(
            keys=keys,
            current=KeyId(doc["current"]),
            pseudonym_key=base64.b64decode(doc["pseudonym_key"], validate=True),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # The message names the file and the kind of fault, never the key material.
        raise ConfigError([f"cannot load the hub key ring from {path}: {type(e).__name__}: {e}"]) from None


class IssuerKey:
    """An Ed25519 token-signing key with its ``kid`` (what a council's identity provider holds)."""

    def __init__(self, private_key: Ed25519PrivateKey, kid: str) -> None:
        self.private_key = private_key
        self.kid = kid

    @classmethod
    def generate(cls, kid: str | None = None) -> IssuerKey:
        return cls(Ed25519PrivateKey.generate(), kid or f"demo-{uuid.uuid4().hex[:8]}")

    @classmethod
    def load(cls, path: Path) -> IssuerKey:
        doc = json.loads(path.read_text())
        key = serialization.load_pem_private_key(doc["pem"].encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError([f"{path} does not hold an Ed25519 key"])
        return cls(key, doc["kid"])

    def save(self, path: Path) -> None:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps({"kid": self.kid, "pem": pem}))

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "EdDSA", "use": "sig"})
        return jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def mint(
        self,
        *,
        issuer: str,
        audience: str,
        org: str,
        org_type: str,
        user: str,
        purposes: Iterable[str],
        role: str = "user",
        lifetime_seconds: int = 3600,
        now: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": user,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "org": org,
            "org_type": org_type,
            "role": role,
            "purposes": sorted(purposes),
            **(extra or {}),
        }
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})
