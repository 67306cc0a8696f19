"""Bearer-token authentication: a signed JWT from a configured issuer becomes a :class:`Caller`.

Verified: the signature against the issuer's published keys (chosen by ``kid``), the algorithm (an
asymmetric one that matches the key: ``alg: none`` and HMAC-with-a-public-key confusion are refused),
``exp``, ``nbf``, ``iat``, ``iss`` and ``aud`` with a small clock skew. The claims say which organisation
the user acts for, its type, and the purposes the organisation is entitled to.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

from hub.caller import Caller
from hub.errors import ConfigError, InvalidToken

__all__ = ["ALLOWED_ALGORITHMS", "Caller", "TokenVerifier"]

#: Asymmetric algorithms only: an HS256 token "signed" with a public key is the classic confusion attack.
ALLOWED_ALGORITHMS = frozenset({"EdDSA", "RS256", "PS256", "ES256"})
_CLOCK_SKEW_SECONDS = 30
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class TokenVerifier:
    def __init__(self, jwks: Mapping[str, Any], *, issuer: str, audience: str, cache_size: int = 4096) -> None:
        problems = []
        # Signature checks are most of the cost of a request's authentication, and callers reuse a token
        # for many requests: remember verified tokens (by their full text, so any change misses).
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._cache_size = cache_size
        self._keys: dict[str, jwt.PyJWK] = {}
        for raw in jwks.get("keys", []):
            kid = raw.get("kid")
            try:
                key = jwt.PyJWK(raw)
            except jwt.PyJWTError as e:
                problems.append(f"issuer key {kid!r} is unusable: {e}")
                continue
            if not kid:
                problems.append("every issuer key needs a 'kid'")
            elif key.algorithm_name not in ALLOWED_ALGORITHMS:
                problems.append(f"issuer key {kid!r} uses {key.algorithm_name}; allowed: {sorted(ALLOWED_ALGORITHMS)}")
            else:
                self._keys[kid] = key
        if not self._keys and not problems:
            problems.append("the issuer key set holds no keys")
        if problems:
            raise ConfigError(problems)
        self.issuer = issuer
        self.audience = audience

    @classmethod
    def from_file(cls, path: Path, *, issuer: str, audience: str) -> TokenVerifier:
        try:
            jwks = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError([f"cannot read the issuer keys at {path}: {e}"]) from e
        return cls(jwks, issuer=issuer, audience=audience)

    def verify(self, token: str) -> Caller:
        """Verify ``token`` (cached: a token seen before is re-checked only against the clock)."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            caller, expires = cached
            if now >= expires + _CLOCK_SKEW_SECONDS:
                del self._cache[token]
                raise InvalidToken("the token has expired")
            self._cache.move_to_end(token)
            return caller
        caller, claims = self._verify(token)
        # Only verified tokens are cached, so nbf has passed; expiry is re-checked on every use.
        self._cache[token] = (caller, float(claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return caller

    def _verify(self, token: str) -> tuple[Caller, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken("the token's algorithm is not accepted")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("the token's key id is not one of the issuer's keys")
        if key.algorithm_name != alg:
            raise InvalidToken("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=_CLOCK_SKEW_SECONDS,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token was not issued by a trusted issuer") from None
        except jwt.MissingRequiredClaimError as e:
            raise InvalidToken(f"the token lacks the required claim {e.claim!r}") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token signature or claims are invalid") from None
        return _caller_from_claims(claims), claims


def _caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    org, org_type, purposes = claims.get("org"), claims.get("org_type"), claims.get("purposes", [])
    if not isinstance(org, str) or not org or not isinstance(org_type, str) or not org_type:
        raise InvalidToken("the token must name the caller's organisation ('org') and its type ('org_type')")
    if not isinstance(purposes, list) or not all(isinstance(p, str) for p in purposes):
        raise InvalidToken("the token's 'purposes' claim must be a list of purpose ids")
    role = claims.get("role", "user")
    return Caller(
        org=org,
        org_type=org_type,
        user=str(claims["sub"]),
        role=role if isinstance(role, str) else "user",
        purposes=frozenset(purposes),
        token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
    )
