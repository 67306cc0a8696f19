"""Bearer-token authentication: a signed JWT from a configured issuer becomes a :class:`Caller`.

Verified: the signature against the issuer's published keys (chosen by ``kid``), the algorithm (an
asymmetric one that matches the key: ``alg: none`` and HMAC-with-a-public-key confusion are refused),
``exp``, ``nbf``, ``iat``, ``iss`` and ``aud`` with a small clock skew. The claims say which organisation
the user acts for, its type, and the purposes the organisation is entitled to.

The key set comes from a file or a URL (https, or http on loopback); a token with a key id the hub does
not hold makes it read the set again, at most once a minute: an issuer rotates by publishing a new key.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt

from hub.access.caller import Caller
from hub.errors import ConfigError, InvalidToken

__all__ = ["ALLOWED_ALGORITHMS", "Caller", "TokenVerifier", "UnknownKeyId", "jwks_source"]

log = logging.getLogger(__name__)

#: Asymmetric algorithms only: an HS256 token "signed" with a public key is the classic confusion attack.
ALLOWED_ALGORITHMS = frozenset({"EdDSA", "RS256", "PS256", "ES256"})
_CLOCK_SKEW_SECONDS = 30
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class UnknownKeyId(InvalidToken):
    """A token signed with a key id the verifier does not (yet) hold: the issuer may have rotated."""


def _loopback_or_https(url: str) -> bool:
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme == "https" or (
        parsed.scheme == "http" and parsed.hostname in {"127.0.0.1", "localhost", "::1"}
    )


def jwks_source(*, path: Path | None = None, url: str | None = None, timeout: float = 2.0) -> Callable[[], Any]:
    """Where the issuer's key set is read from, again on rotation: a file, or a URL (https, or http on
    loopback only: a key set fetched in clear over a network could be swapped)."""
    if url is not None:
        if not _loopback_or_https(url):
            raise ConfigError([f"the issuer key set URL must be https, or http on loopback: {url!r}"])

        def fetch() -> Any:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
                return json.loads(response.read(1_000_000))

        return fetch
    if path is not None:
        return lambda: json.loads(path.read_text())
    raise ConfigError(["no issuer key set: set WELFARE_HUB_JWKS (a file) or WELFARE_HUB_JWKS_URL"])


class TokenVerifier:
    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        issuer: str,
        audience: str,
        cache_size: int = 4096,
        source: Callable[[], Any] | None = None,
        refresh_seconds: float = 60.0,
    ) -> None:
        # Signature checks are most of the cost of a request's authentication, and callers reuse a token
        # for many requests: remember verified tokens (by their full text, so any change misses).
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._cache_size = cache_size
        self._keys = self._parse(jwks)
        self.issuer = issuer
        self.audience = audience
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._refreshed_at = time.monotonic()

    def refresh_due(self) -> bool:
        return self._source is not None and time.monotonic() - self._refreshed_at >= self._refresh_seconds

    def refresh(self) -> bool:
        """Read the key set again (an issuer rotated its keys: a new ``kid``), at most once per
        ``refresh_seconds``; a key set that cannot be read or is invalid leaves the current keys in place."""
        if not self.refresh_due():
            return False
        self._refreshed_at = time.monotonic()
        assert self._source is not None
        try:
            keys = self._parse(self._source())
        except (OSError, ValueError, ConfigError) as e:
            log.warning("issuer key set refresh failed, keeping the current keys: %s", type(e).__name__)
            return False
        self._keys = keys
        self._cache.clear()  # a key may have been withdrawn: verify every token again
        return True

    @staticmethod
    def _parse(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
        problems = []
        keys: dict[str, jwt.PyJWK] = {}
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
                keys[kid] = key
        if not keys and not problems:
            problems.append("the issuer key set holds no keys")
        if problems:
            raise ConfigError(problems)
        return keys

    @classmethod
    def from_file(cls, path: Path, *, issuer: str, audience: str) -> TokenVerifier:
        return cls.from_source(jwks_source(path=path), issuer=issuer, audience=audience, where=str(path))

    @classmethod
    def from_source(
        cls, source: Callable[[], Any], *, issuer: str, audience: str, where: str, refresh_seconds: float = 60.0
    ) -> TokenVerifier:
        try:
            jwks = source()
        except (OSError, ValueError) as e:
            raise ConfigError([f"cannot read the issuer keys at {where}: {e}"]) from e
        return cls(jwks, issuer=issuer, audience=audience, source=source, refresh_seconds=refresh_seconds)

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
            raise UnknownKeyId("the token's key id is not one of the issuer's keys")
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
