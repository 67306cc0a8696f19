"""The purpose assertion: what a subgraph accepts from the hub, and every way a forged, stale, misdirected
or replayed-onto-another-body one is refused (with a stable reason, never the token)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
import pytest

from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, AssertionVerifier, InvalidAssertion
from tests.asks import full_ask

HUB = IssuerKey.generate("hub-test-1")
BODY = b'{"query":"query($r:[_Any!]!){_entities(representations:$r){__typename}}","variables":{"r":[]}}'


def signer(key: IssuerKey = HUB, *, issuer: str = "welfare-hub") -> AssertionSigner:
    return AssertionSigner(key.private_key, key.kid, issuer=issuer)


def verifier(audience: str = "dwp") -> AssertionVerifier:
    return AssertionVerifier(HUB.jwks(), issuer="welfare-hub", audience=audience)


def mint(**kw: object) -> str:
    return signer().mint(audience="dwp", ask=full_ask(), fields=["DwpPerson.name"], body=BODY, **kw)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_good_assertion_says_who_asks_for_what() -> None:
    ask = full_ask(councils=frozenset({"E09000901"}))
    token = signer().mint(audience="hb", ask=ask, fields=["HbPerson.claims"], body=BODY)
    got = verifier("hb").verify(token, BODY)
    assert got.purpose == ask.purpose
    assert got.org == ask.org
    assert got.org_type == ask.org_type
    assert got.audit_id == ask.audit_id
    assert got.fields == frozenset({"HbPerson.claims"})
    assert got.councils == frozenset({"E09000901"})
    every = verifier("hb").verify(signer().mint(audience="hb", ask=full_ask(), fields=[], body=BODY), BODY)
    assert every.councils is None


def _unsigned() -> str:
    claims = jwt.decode(mint(), options={"verify_signature": False})
    return f"{_b64({'alg': 'none', 'typ': 'purpose+jwt', 'kid': HUB.kid})}.{_b64(claims)}."


def _bearer_typed() -> str:
    # A token the hub's key signed, but not typed as an assertion (a caller's bearer token, say).
    claims = jwt.decode(mint(), options={"verify_signature": False})
    return jwt.encode(claims, HUB.private_key, algorithm="EdDSA", headers={"kid": HUB.kid})


CASES: list[tuple[str, Callable[[], str], bytes, str]] = [
    ("another body", mint, BODY + b" ", "not for this request"),
    (
        "addressed to another source",
        lambda: signer().mint(audience="hb", ask=full_ask(), fields=[], body=BODY),
        BODY,
        "wrong audience",
    ),
    ("expired", lambda: mint(now=time.time() - 3600), BODY, "expired"),
    (
        "another issuer",
        lambda: signer(issuer="someone").mint(audience="dwp", ask=full_ask(), fields=[], body=BODY),
        BODY,
        "wrong issuer",
    ),
    (
        "signed by another key with the hub's kid",
        lambda: signer(IssuerKey(IssuerKey.generate().private_key, HUB.kid)).mint(
            audience="dwp", ask=full_ask(), fields=[], body=BODY
        ),
        BODY,
        "invalid",
    ),
    (
        "an unknown key",
        lambda: signer(IssuerKey.generate("other")).mint(audience="dwp", ask=full_ask(), fields=[], body=BODY),
        BODY,
        "unknown signing key",
    ),
    ("alg none", _unsigned, BODY, "algorithm not accepted"),
    ("not typed as an assertion", _bearer_typed, BODY, "not a purpose assertion"),
    ("not a JWT", lambda: "not-a-token", BODY, "malformed"),
]


@pytest.mark.parametrize(("token", "body", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_bad_assertion_is_refused_with_its_reason(token: Callable[[], str], body: bytes, reason: str) -> None:
    text = token()
    with pytest.raises(InvalidAssertion) as refused:
        verifier().verify(text, body)
    assert refused.value.reason == reason
    assert text not in str(refused.value)


def test_a_tampered_claim_breaks_the_signature() -> None:
    header, payload, signature = mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["fields"] = ["DwpPerson.awardsInPayment"]
    with pytest.raises(InvalidAssertion):
        verifier().verify(f"{header}.{_b64(claims)}.{signature}", BODY)
