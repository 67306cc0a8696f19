"""The subgraph's own assertion check (subgraphs/verify.py) against pyjwt's (resolvers/sources/assertion.py):
a table of forged, stale, misdirected, tampered and malformed assertions, each refused by both with the
same reason, and a good one answered with the same claims."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, AssertionVerifier, InvalidAssertion, body_digest
from subgraphs.verify import FastVerifier
from tests.asks import full_ask

HUB = IssuerKey.generate("hub-test-1")
OTHER = IssuerKey.generate("hub-test-2")  # not in the subgraph's key set
BODY = b'{"query":"query($r:[_Any!]!){_entities(representations:$r){__typename}}","variables":{"r":[]}}'
HEADER = {"alg": "EdDSA", "typ": "purpose+jwt", "kid": HUB.kid}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _claims(**changes: Any) -> dict[str, Any]:
    token = AssertionSigner(HUB.private_key, HUB.kid, issuer="welfare-hub").mint(
        audience="dwp", ask=full_ask(), fields=["DwpPerson.name"], body=BODY
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    for name, value in changes.items():
        if value is ...:
            del claims[name]
        else:
            claims[name] = value
    return claims


def _signed(header: dict[str, Any], claims: dict[str, Any], key: Ed25519PrivateKey = HUB.private_key) -> str:
    signing_input = f"{_json(header)}.{_json(claims)}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def _token(**changes: Any) -> str:
    return _signed(HEADER, _claims(**changes))


def _resigned_payload() -> str:
    # The payload changed after signing: the signature is over the other claims.
    header, _, signature = _token().split(".")
    return f"{header}.{_json(_claims(purpose='SOMETHING_ELSE'))}.{signature}"


def _flipped_signature() -> str:
    head, _, signature = _token().rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    return f"{head}.{_b64(bytes(raw))}"


NOW = time.time()
CASES: list[Any] = [
    pytest.param(
        lambda: f"{_json({**HEADER, 'alg': 'none'})}.{_json(_claims())}.", "algorithm not accepted", id="alg-none"
    ),
    pytest.param(
        lambda: jwt.encode(_claims(), "k" * 32, algorithm="HS256", headers={"kid": HUB.kid, "typ": "purpose+jwt"}),
        "algorithm not accepted",
        id="alg-hs256",
    ),
    pytest.param(lambda: _signed({**HEADER, "typ": "JWT"}, _claims()), "not a purpose assertion", id="wrong-typ"),
    pytest.param(lambda: _signed({"alg": "EdDSA", "kid": HUB.kid}, _claims()), "not a purpose assertion", id="no-typ"),
    pytest.param(
        lambda: _signed({**HEADER, "kid": OTHER.kid}, _claims(), OTHER.private_key), "unknown signing key", id="bad-kid"
    ),
    pytest.param(lambda: _signed({**HEADER, "kid": 7}, _claims()), "malformed", id="kid-not-a-string"),
    pytest.param(lambda: _signed(HEADER, _claims(), OTHER.private_key), "invalid", id="signed-by-another-key"),
    pytest.param(_resigned_payload, "invalid", id="tampered-payload"),
    pytest.param(_flipped_signature, "invalid", id="tampered-signature"),
    pytest.param(lambda: _token(body_sha256=body_digest(BODY + b" ")), "not for this request", id="tampered-body"),
    pytest.param(lambda: _token(body_sha256=...), "not for this request", id="no-body-digest"),
    pytest.param(lambda: _token(exp=int(NOW) - 60), "expired", id="expired"),
    pytest.param(lambda: _token(nbf=int(NOW) + 600), "invalid", id="not-yet-valid"),
    pytest.param(lambda: _token(iat=int(NOW) + 600), "invalid", id="issued-in-the-future"),
    pytest.param(lambda: _token(exp="soon"), "invalid", id="exp-not-a-number"),
    pytest.param(lambda: _token(aud="hb"), "wrong audience", id="wrong-aud"),
    pytest.param(lambda: _token(aud=["hb", "social_care"]), "wrong audience", id="aud-list-without-us"),
    pytest.param(lambda: _token(aud=["dwp", 3]), "wrong audience", id="aud-list-not-strings"),
    pytest.param(lambda: _token(aud=""), "invalid", id="aud-empty"),
    pytest.param(lambda: _token(iss="someone-else"), "wrong issuer", id="wrong-iss"),
    pytest.param(lambda: _token(iss=["welfare-hub"]), "wrong issuer", id="iss-not-a-string"),
    pytest.param(lambda: _token(jti=...), "invalid", id="no-jti"),
    pytest.param(lambda: _token(jti=12), "invalid", id="jti-not-a-string"),
    pytest.param(lambda: _token(purpose=None), "invalid", id="purpose-null"),
    pytest.param(lambda: _token(sub=5), "invalid", id="sub-not-a-string"),
    pytest.param(lambda: _token(fields="DwpPerson.name"), "invalid fields", id="fields-not-a-list"),
    pytest.param(lambda: _token(councils=[1]), "invalid councils", id="councils-not-strings"),
    pytest.param(lambda: _token(audit_id="not-a-uuid"), "invalid audit id", id="bad-audit-id"),
    pytest.param(lambda: "not-a-token", "malformed", id="one-segment"),
    pytest.param(lambda: _token() + ".x", "malformed", id="four-segments"),
    pytest.param(lambda: "!!!!" + _token()[4:], "malformed", id="header-not-base64url"),
    pytest.param(lambda: _token()[:-2] + "*A", "malformed", id="signature-not-base64url"),
    pytest.param(lambda: f"{_b64(b'not json')}.{_json(_claims())}.AAAA", "malformed", id="header-not-json"),
    pytest.param(lambda: f"{_json(['EdDSA'])}.{_json(_claims())}.AAAA", "malformed", id="header-not-an-object"),
    pytest.param(lambda: _signed(HEADER, ["not", "an", "object"]), "invalid", id="payload-not-an-object"),  # type: ignore[arg-type]
]


def _reason(verify: Callable[[str, bytes], object], token: str) -> str:
    with pytest.raises(InvalidAssertion) as refused:
        verify(token, BODY)
    return refused.value.reason


@pytest.mark.parametrize(("make", "reason"), CASES)
def test_refused_with_the_same_reason_as_pyjwt(make: Callable[[], str], reason: str) -> None:
    token = make()
    fast = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp")
    slow = AssertionVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp")
    assert _reason(fast.verify, token) == reason
    assert _reason(slow.verify, token) == reason


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({**HEADER, "crit": ["b64"], "b64": False}, id="detached-payload"),
        pytest.param({**HEADER, "b64": True}, id="b64-header"),
        pytest.param({**HEADER, "crit": ["exp"]}, id="unknown-crit"),
    ],
)
def test_no_detached_or_critical_extensions(header: dict[str, Any]) -> None:
    fast = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp")
    assert _reason(fast.verify, _signed(header, _claims())) == "malformed"


def test_padding_and_oversized_tokens_are_malformed() -> None:
    fast = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp")
    header, payload, signature = _token().split(".")
    assert _reason(fast.verify, f"{header}.{payload}.{signature}==") == "malformed"
    assert _reason(fast.verify, f"{header}.{payload}{'A' * 20_000}.{signature}") == "malformed"
    assert _reason(fast.verify, _token().replace(".", ".é", 1)) == "malformed"


def test_the_clock_and_its_leeway() -> None:
    token = _token(exp=1000, nbf=900, iat=900)
    at = {
        t: FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp", now=lambda t=t: t) for t in (896, 1004, 1005)
    }
    assert at[896].verify(token, BODY).expires == 1000  # 4 s before nbf: within the 5 s leeway
    assert at[1004].verify(token, BODY).expires == 1000  # 4 s past exp: within the 5 s leeway
    assert _reason(at[1005].verify, token) == "expired"
    early = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp", now=lambda: 894)
    assert _reason(early.verify, token) == "invalid"  # 6 s before nbf: past the leeway


def test_a_good_assertion_reads_as_pyjwt_reads_it() -> None:
    ask = full_ask(councils=frozenset({"E09000901"}))
    token = AssertionSigner(HUB.private_key, HUB.kid, issuer="welfare-hub").mint(
        audience="dwp", ask=ask, fields=["DwpPerson.name", "DwpPerson.nino"], body=BODY
    )
    fast = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp").verify(token, BODY)
    slow = AssertionVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp").verify(token, BODY)
    assert fast == slow
    assert (fast.audit_id, fast.councils, fast.purpose) == (ask.audit_id, frozenset({"E09000901"}), ask.purpose)
    listed = _token(aud=["hb", "dwp"])  # an audience list naming this source is accepted, as pyjwt does
    assert FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp").verify(listed, BODY).audience == "dwp"


def test_only_the_one_spelling_of_each_segment_verifies() -> None:
    # An Ed25519 signature is 64 bytes: 86 base64url characters, the last carrying 4 unused bits. Setting
    # them spells the same bytes another way; only the canonical spelling is the token the hub signed.
    fast = FastVerifier(HUB.jwks(), issuer="welfare-hub", audience="dwp")
    token = _token()
    header, payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    other = alphabet[(last & ~0b1111) | ((last + 1) & 0b1111)]
    respelled = f"{header}.{payload}.{signature[:-1]}{other}"
    assert base64.urlsafe_b64decode(respelled.split(".")[2] + "==") == base64.urlsafe_b64decode(signature + "==")
    assert fast.verify(token, BODY).audience == "dwp"
    assert _reason(fast.verify, respelled) == "malformed"
