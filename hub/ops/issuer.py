"""A token issuer for the demo and the tests: an Ed25519 signing key with its ``kid``, minting real tokens.

In production tokens come from the councils' identity provider; this exists so a newcomer's demo and the
tests use real keys and real signatures, never shortcuts.
"""

from __future__ import annotations

import json
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

__all__ = ["IssuerKey"]


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
