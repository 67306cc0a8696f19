"""The hub publishes the public key it signs its questions to the sources' subgraphs with, and only that."""

from __future__ import annotations

import httpx
import jwt

from hub.config import Settings
from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, AssertionVerifier
from tests.asks import full_ask


async def test_the_assertion_key_set_is_public_and_verifies_what_the_hub_signs(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/.well-known/jwks.json")  # no token: a subgraph fetches it as itself
    assert response.status_code == 200
    document = response.json()
    (key,) = document["keys"]
    assert key["kty"] == "OKP"
    assert key["alg"] == "EdDSA"
    assert "d" not in key  # the public half only
    assert settings.assertion_key_path is not None
    own = IssuerKey.load(settings.assertion_key_path)
    assert key["kid"] == own.kid
    body = b'{"query":"{ _service { sdl } }"}'
    token = AssertionSigner(own.private_key, own.kid, issuer="welfare-hub").mint(
        audience="dwp", ask=full_ask(), fields=["DwpPerson.name"], body=body
    )
    verified = AssertionVerifier(document, issuer="welfare-hub", audience="dwp").verify(token, body)
    assert verified.fields == frozenset({"DwpPerson.name"})
    assert jwt.get_unverified_header(token)["typ"] == "purpose+jwt"
