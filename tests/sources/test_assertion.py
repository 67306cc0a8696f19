"""The purpose assertion as the hub mints it: a JWS compact token that pyjwt and the subgraph's verifier read
as any EdDSA JWT, carrying exactly the claims the boundary needs, and refused once anything in it changes."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from resolvers.sources.assertion import ASSERTION_TYPE, AssertionSigner, AssertionVerifier, InvalidAssertion
from resolvers.sources.contract import Ask

_KEY = Ed25519PrivateKey.generate()
_ASK = Ask(
    "CARE_CHARGING_DOMICILIARY",
    "Care Act 2014 s.14",
    "org-1",
    "council_care_finance",
    uuid.uuid4(),
    {},
    frozenset({"E08000025", "E06000001"}),
)


def _jwks(key: Ed25519PrivateKey, kid: str) -> dict[str, object]:
    return {"keys": [json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "alg": "EdDSA"}]}


def _verifier(key: Ed25519PrivateKey = _KEY, kid: str = "k1") -> AssertionVerifier:
    return AssertionVerifier(_jwks(key, kid), issuer="welfare-hub", audience="dwp")


def _part(token: str, i: int) -> dict[str, object]:
    raw = token.split(".")[i]
    return dict(json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))))


def test_a_minted_assertion_is_a_standard_eddsa_jwt_with_every_claim() -> None:
    body = b'{"query":"{ x }"}'
    token = AssertionSigner(_KEY, "k1", issuer="welfare-hub").mint(
        audience="dwp", ask=_ASK, fields=["DwpPerson.name", "DwpPerson.awardsInPayment"], body=body
    )
    assert _part(token, 0) == {"alg": "EdDSA", "kid": "k1", "typ": ASSERTION_TYPE}
    claims = jwt.decode(token, _KEY.public_key(), algorithms=["EdDSA"], audience="dwp", issuer="welfare-hub")
    assert claims["exp"] - claims["iat"] == 60
    assert claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["fields"] == ["DwpPerson.awardsInPayment", "DwpPerson.name"]
    assert claims["councils"] == ["E06000001", "E08000025"]
    assert (claims["purpose"], claims["org"], claims["org_type"], claims["audit_id"]) == (
        _ASK.purpose,
        _ASK.org,
        _ASK.org_type,
        str(_ASK.audit_id),
    )
    verified = _verifier().verify(token, body)
    assert verified.fields == frozenset({"DwpPerson.name", "DwpPerson.awardsInPayment"})
    assert verified.councils == _ASK.councils
    assert verified.audit_id == _ASK.audit_id


def test_each_assertion_has_its_own_jti_and_a_null_councils_means_every_council() -> None:
    signer = AssertionSigner(_KEY, "k1", issuer="welfare-hub")
    every = Ask(_ASK.purpose, _ASK.legal_basis, _ASK.org, _ASK.org_type, _ASK.audit_id, {}, None)
    first, second = (signer.mint(audience="dwp", ask=every, fields=[], body=b"{}") for _ in range(2))
    assert _part(first, 1)["jti"] != _part(second, 1)["jti"]
    assert _part(first, 1)["councils"] is None
    assert _verifier().verify(first, b"{}").councils is None


@pytest.mark.parametrize("change", ["body", "signature", "claims", "other key", "other kid"])
def test_anything_changed_is_refused(change: str) -> None:
    body = b'{"query":"{ x }"}'
    signer = AssertionSigner(_KEY, "k1", issuer="welfare-hub")
    token = signer.mint(audience="dwp", ask=_ASK, fields=[], body=body)
    verifier = _verifier()
    head, claims, signature = token.split(".")
    if change == "body":
        token, body = token, body + b" "
    elif change == "signature":
        token = f"{head}.{claims}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BA'}"
    elif change == "claims":
        other = _part(token, 1) | {"purpose": "BLUE_BADGE"}
        forged = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
        token = f"{head}.{forged}.{signature}"
    elif change == "other key":
        token = AssertionSigner(Ed25519PrivateKey.generate(), "k1", issuer="welfare-hub").mint(
            audience="dwp", ask=_ASK, fields=[], body=body
        )
    else:
        verifier = _verifier(kid="k2")
    with pytest.raises(InvalidAssertion):
        verifier.verify(token, body)
