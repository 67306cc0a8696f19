"""Issuer key rotation by kid: the hub reads the issuer's key set from a URL on loopback (real HTTP), and a
token signed with a key it does not hold yet makes it read the set again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hub.access.tokens import jwks_source
from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.issuer import IssuerKey
from tests.conftest import AUDIENCE, ISSUER, codes, gql, replace, running_client

NOTICE = "{ privacyNotice { controller } }"


class _KeySet:
    def __init__(self, *keys: IssuerKey) -> None:
        self.keys = list(keys)
        self.reads = 0

    def document(self) -> bytes:
        self.reads += 1
        return json.dumps({"keys": [k for key in self.keys for k in key.jwks()["keys"]]}).encode()


@pytest.fixture
def published(issuer: IssuerKey) -> Iterator[tuple[str, _KeySet]]:
    keyset = _KeySet(issuer)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = keyset.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", keyset
    finally:
        server.shutdown()
        server.server_close()


async def test_a_new_key_is_picked_up_when_a_token_first_uses_it(
    settings: Settings, people: Any, token: Any, published: tuple[str, _KeySet]
) -> None:
    url, keyset = published
    token("council_blue_badge", "BLUE_BADGE", org="rotating-team")  # registers the organisation
    rotated = IssuerKey.generate("test-key-2")

    def mint(key: IssuerKey) -> str:
        return key.mint(
            issuer=ISSUER, audience=AUDIENCE, org="rotating-team", org_type="council_blue_badge", user="u", purposes=[]
        )

    hub = replace(settings, jwks_path=None, jwks_url=url, jwks_refresh_seconds=0.0)
    async with running_client(hub) as client:
        assert (await gql(client, mint(rotated), NOTICE)).status_code == 401  # not published yet
        keyset.keys.append(rotated)  # the issuer publishes its new key
        body = (await gql(client, mint(rotated), NOTICE)).json()
        assert "errors" not in body, body
        assert (
            await gql(client, token("council_blue_badge", "BLUE_BADGE", org="rotating-team"), NOTICE)
        ).status_code == 200
        keyset.keys.remove(rotated)  # and withdraws it: verified tokens are checked again
        unknown = IssuerKey.generate("test-key-3")
        assert (await gql(client, mint(unknown), NOTICE)).status_code == 401  # makes the hub re-read the set
        r = await gql(client, mint(rotated), NOTICE)
        assert r.status_code == 401
        assert codes(r.json()) == ["UNAUTHENTICATED"]


async def test_rereading_is_rate_limited(settings: Settings, people: Any, published: tuple[str, _KeySet]) -> None:
    url, keyset = published
    hub = replace(settings, jwks_path=None, jwks_url=url, jwks_refresh_seconds=3600.0)
    stranger = IssuerKey.generate("nobody-s-key")
    async with running_client(hub) as client:
        reads = keyset.reads
        for _ in range(5):
            t = stranger.mint(issuer=ISSUER, audience=AUDIENCE, org="x", org_type="council_hb", user="u", purposes=[])
            assert (await gql(client, t, NOTICE)).status_code == 401
        assert keyset.reads == reads, "unknown key ids must not make the hub fetch the key set on every request"


@pytest.mark.parametrize(
    "url",
    ["http://idp.example.org/jwks.json", "ftp://127.0.0.1/jwks.json", "file:///etc/passwd", "http://10.0.0.5/jwks"],
)
def test_a_key_set_in_clear_over_a_network_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="https, or http on loopback"):
        jwks_source(url=url)


def test_an_https_key_set_is_accepted() -> None:
    assert callable(jwks_source(url="https://idp.example.org/.well-known/jwks.json"))
