"""Bearer tokens: only a real signature by a configured issuer key, on time, for us, becomes a Caller.

Every token here is signed for real (Ed25519 through IssuerKey, RSA through cryptography); attacks are
crafted byte by byte as an attacker would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from hub.access.tokens import Caller, TokenVerifier
from hub.errors import AuthError, ConfigError, InvalidToken
from hub.ops.issuer import IssuerKey

ISSUER = "https://idp.council-a.example"
AUDIENCE = "welfare-hub"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: Any) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


@dataclass
class Issuer:
    ed: IssuerKey
    rsa_key: rsa.RSAPrivateKey
    rsa_kid: str
    verifier: TokenVerifier

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A complete, valid claim set; a change to ``None`` removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": "token-1",
            "org": "council-a",
            "org_type": "local_authority",
            "role": "caseworker",
            "purposes": ["housing_benefit", "safeguarding"],
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def eddsa(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.ed.private_key, algorithm="EdDSA", headers={"kid": kid or self.ed.kid})

    def rs256(self, claims: dict[str, Any], *, kid: str | None = None, algorithm: str = "RS256") -> str:
        return jwt.encode(claims, self.rsa_key, algorithm=algorithm, headers={"kid": kid or self.rsa_kid})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    ed = IssuerKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": "rsa-1", "alg": "RS256"})
    verifier = TokenVerifier({"keys": [ed.jwk(), rsa_jwk]}, issuer=ISSUER, audience=AUDIENCE)
    return Issuer(ed, rsa_key, "rsa-1", verifier)


def _refused(verifier: TokenVerifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert isinstance(caught.value, AuthError)
    assert caught.value.extensions["code"] == "UNAUTHENTICATED"
    return caught.value


@pytest.mark.parametrize("sign", ["eddsa", "rs256"])
def test_valid_token_becomes_a_caller(issuer: Issuer, sign: str) -> None:
    token = getattr(issuer, sign)(issuer.claims())
    assert issuer.verifier.verify(token) == Caller(
        org="council-a",
        org_type="local_authority",
        user="alice",
        role="caseworker",
        purposes=frozenset({"housing_benefit", "safeguarding"}),
        token_id="token-1",
    )


def test_minted_token_round_trips(issuer: Issuer) -> None:
    token = issuer.ed.mint(
        issuer=ISSUER, audience=AUDIENCE, org="dwp", org_type="central_government", user="bob", purposes=["x"]
    )
    caller = issuer.verifier.verify(token)
    assert (caller.org, caller.org_type, caller.user, caller.role, caller.purposes) == (
        "dwp",
        "central_government",
        "bob",
        "user",
        frozenset({"x"}),
    )
    assert caller.token_id is not None
    assert not caller.is_admin


def test_optional_claims_default(issuer: Issuer) -> None:
    caller = issuer.verifier.verify(issuer.eddsa(issuer.claims(role=None, purposes=None, jti=None)))
    assert (caller.role, caller.purposes, caller.token_id) == ("user", frozenset(), None)
    assert issuer.verifier.verify(issuer.eddsa(issuer.claims(role="admin"))).is_admin


def test_audience_list_containing_ours_is_accepted(issuer: Issuer) -> None:
    caller = issuer.verifier.verify(issuer.eddsa(issuer.claims(aud=["other-service", AUDIENCE])))
    assert caller.user == "alice"


def test_expired_within_the_clock_skew_is_accepted(issuer: Issuer) -> None:
    now = int(time.time())
    token = issuer.eddsa(issuer.claims(iat=now - 600, nbf=now - 600, exp=now - 10))
    assert issuer.verifier.verify(token).user == "alice"


def _tampered(issuer: Issuer) -> str:
    header, payload, signature = issuer.eddsa(issuer.claims()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["purposes"] = [*claims["purposes"], "fraud_investigation"]
    return f"{header}.{_segment(claims)}.{signature}"


def _alg_none(issuer: Issuer) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': issuer.ed.kid})}.{_segment(issuer.claims())}."


def _hs256_with_public_key(issuer: Issuer) -> str:
    # The confusion attack: the RSA public key is public, so an attacker can use its PEM as an HMAC secret.
    pem = issuer.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.rsa_kid})}.{_segment(issuer.claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _same_kid_other_key(issuer: Issuer) -> str:
    impostor = IssuerKey.generate(kid=issuer.ed.kid)
    return jwt.encode(issuer.claims(), impostor.private_key, algorithm="EdDSA", headers={"kid": impostor.kid})


def _now() -> int:
    # Read when the token is made, not when the module is collected: a long suite must not age the cases.
    return int(time.time())


def _unhashable_alg(alg: Any) -> Callable[[Issuer], str]:
    return lambda issuer: f"{_segment({'alg': alg, 'kid': issuer.ed.kid})}.{_segment(issuer.claims())}.c2ln"


# (description, how to make the token, the exact message of the refusal)
REFUSED: list[tuple[str, Callable[[Issuer], str], str]] = [
    (
        "expired beyond the clock skew",
        lambda i: i.eddsa(i.claims(iat=_now() - 600, nbf=_now() - 600, exp=_now() - 45)),
        "the token has expired",
    ),
    (
        "expired long ago, RS256",
        lambda i: i.rs256(i.claims(iat=_now() - 7200, nbf=_now() - 7200, exp=_now() - 3600)),
        "the token has expired",
    ),
    ("not valid before a future time", lambda i: i.eddsa(i.claims(nbf=_now() + 300)), "the token is not valid yet"),
    (
        "wrong audience",
        lambda i: i.eddsa(i.claims(aud="another-service")),
        "the token is not meant for this service (audience)",
    ),
    (
        "wrong issuer",
        lambda i: i.eddsa(i.claims(iss="https://idp.evil.example")),
        "the token was not issued by a trusted issuer",
    ),
    ("alg none", _alg_none, "the token's algorithm is not accepted"),
    ("HS256 signed with the RSA public key", _hs256_with_public_key, "the token's algorithm is not accepted"),
    (
        "unknown kid",
        lambda i: i.eddsa(i.claims(), kid="not-ours"),
        "the token's key id is not one of the issuer's keys",
    ),
    (
        "RS256 token naming the EdDSA key",
        lambda i: i.rs256(i.claims(), kid=i.ed.kid),
        "the token's algorithm does not match its key",
    ),
    (
        "PS256 token naming the RS256 key",
        lambda i: i.rs256(i.claims(), algorithm="PS256"),
        "the token's algorithm does not match its key",
    ),
    ("tampered payload", _tampered, "the token signature or claims are invalid"),
    ("signed by another key with the same kid", _same_kid_other_key, "the token signature or claims are invalid"),
    ("missing sub", lambda i: i.eddsa(i.claims(sub=None)), "the token lacks the required claim 'sub'"),
    ("missing exp", lambda i: i.eddsa(i.claims(exp=None)), "the token lacks the required claim 'exp'"),
    ("missing iat", lambda i: i.rs256(i.claims(iat=None)), "the token lacks the required claim 'iat'"),
    ("missing iss", lambda i: i.eddsa(i.claims(iss=None)), "the token lacks the required claim 'iss'"),
    ("missing aud", lambda i: i.eddsa(i.claims(aud=None)), "the token lacks the required claim 'aud'"),
    (
        "missing org",
        lambda i: i.eddsa(i.claims(org=None)),
        "the token must name the caller's organisation ('org') and its type ('org_type')",
    ),
    (
        "empty org",
        lambda i: i.eddsa(i.claims(org="")),
        "the token must name the caller's organisation ('org') and its type ('org_type')",
    ),
    (
        "missing org_type",
        lambda i: i.eddsa(i.claims(org_type=None)),
        "the token must name the caller's organisation ('org') and its type ('org_type')",
    ),
    (
        "org_type not a string",
        lambda i: i.eddsa(i.claims(org_type=["local_authority"])),
        "the token must name the caller's organisation ('org') and its type ('org_type')",
    ),
    (
        "purposes a string, not a list",
        lambda i: i.eddsa(i.claims(purposes="housing_benefit")),
        "the token's 'purposes' claim must be a list of purpose ids",
    ),
    (
        "purposes an object",
        lambda i: i.eddsa(i.claims(purposes={"housing_benefit": True})),
        "the token's 'purposes' claim must be a list of purpose ids",
    ),
    (
        "purposes holding a non-string",
        lambda i: i.eddsa(i.claims(purposes=["housing_benefit", 7])),
        "the token's 'purposes' claim must be a list of purpose ids",
    ),
    ("garbage string", lambda i: "not-a-jwt", "the bearer token is not a well-formed JWT"),
    ("empty string", lambda i: "", "the bearer token is not a well-formed JWT"),
    (
        "header is not JSON",
        lambda i: f"{_b64(b'{nope')}.{_segment(i.claims())}.c2ln",
        "the bearer token is not a well-formed JWT",
    ),
    # An attacker controls the header: a JSON list or object as 'alg' must be refused, not crash the service.
    ("alg is a list", _unhashable_alg(["EdDSA"]), "the token's algorithm is not accepted"),
    ("alg is an object", _unhashable_alg({"EdDSA": 1}), "the token's algorithm is not accepted"),
]


@pytest.mark.parametrize(("description", "make", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(issuer: Issuer, description: str, make: Callable[[Issuer], str], message: str) -> None:
    refusal = _refused(issuer.verifier, make(issuer))
    assert refusal.message == message
    assert str(refusal) == message


def test_verifier_with_other_issuer_or_audience_refuses_our_tokens(issuer: Issuer) -> None:
    token = issuer.eddsa(issuer.claims())
    keys = {"keys": [issuer.ed.jwk()]}
    other_audience = TokenVerifier(keys, issuer=ISSUER, audience="other-service")
    other_issuer = TokenVerifier(keys, issuer="https://idp.other.example", audience=AUDIENCE)
    assert _refused(other_audience, token).message == "the token is not meant for this service (audience)"
    assert _refused(other_issuer, token).message == "the token was not issued by a trusted issuer"


def _hs256_jwk() -> dict[str, Any]:
    return {"kty": "oct", "k": _b64(b"s" * 32), "kid": "shared", "alg": "HS256"}


# (description, key set, fragments the ConfigError must list)
BAD_KEY_SETS: list[tuple[str, Callable[[], dict[str, Any]], list[str]]] = [
    ("empty key list", lambda: {"keys": []}, ["the issuer key set holds no keys"]),
    ("no keys member", dict, ["the issuer key set holds no keys"]),
    ("an HS256 (oct) key", lambda: {"keys": [_hs256_jwk()]}, ["issuer key 'shared' uses HS256"]),
    (
        "an HS256 key beside a good one",
        lambda: {"keys": [IssuerKey.generate().jwk(), _hs256_jwk()]},
        ["issuer key 'shared' uses HS256"],
    ),
    (
        "a key without kid and an HS256 key",
        lambda: {"keys": [{**IssuerKey.generate().jwk(), "kid": ""}, _hs256_jwk()]},
        ["every issuer key needs a 'kid'", "issuer key 'shared' uses HS256"],
    ),
]


@pytest.mark.parametrize(("description", "make", "fragments"), BAD_KEY_SETS, ids=[c[0] for c in BAD_KEY_SETS])
def test_verifier_refuses_bad_key_sets(
    description: str, make: Callable[[], dict[str, Any]], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        TokenVerifier(make(), issuer=ISSUER, audience=AUDIENCE)
    assert isinstance(caught.value, ValueError)
    assert len(caught.value.problems) == len(fragments)
    for fragment, problem in zip(fragments, caught.value.problems, strict=True):
        assert fragment in problem


def test_a_cached_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.access.tokens

    key = IssuerKey.generate("cache-key")
    verifier = TokenVerifier(key.jwks(), issuer="iss", audience="aud")
    now = time.time()
    token = key.mint(
        issuer="iss", audience="aud", org="o", org_type="council_hb", user="u", purposes=["X"], lifetime_seconds=60
    )
    assert verifier.verify(token).org == "o"
    assert verifier.verify(token).org == "o"  # second time from the cache
    monkeypatch.setattr(hub.access.tokens.time, "time", lambda: now + 60 + 31)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)
