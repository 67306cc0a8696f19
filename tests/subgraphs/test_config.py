"""The subgraph's configuration: one pure function, every problem listed at once; and the hub's keys,
re-read on an unknown key id at most once a minute."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.errors import ConfigError
from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, InvalidAssertion
from resolvers.sources.contract import Ask
from subgraphs.config import SubgraphConfig, source_name
from subgraphs.keys import HubKeys

GOOD = {
    "WELFARE_SUBGRAPH_DATABASE_URL": "postgresql://dwp_owner@db.internal/src_dwp",
    "WELFARE_SUBGRAPH_HUB_ISSUER": "welfare-hub",
    "WELFARE_SUBGRAPH_SECRET": "s" * 32,
}


@pytest.fixture
def jwks(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": []}')
    return path


CASES: list[Any] = [
    pytest.param({}, True, [], id="complete"),
    pytest.param({"WELFARE_SUBGRAPH_DATABASE_URL": ""}, True, ["WELFARE_SUBGRAPH_DATABASE_URL"], id="no-store"),
    pytest.param({"WELFARE_SUBGRAPH_DATABASE_URL": "mysql://x/y"}, True, ["a postgresql:// URL"], id="not-postgres"),
    pytest.param({"WELFARE_SUBGRAPH_SECRET": "short"}, True, ["WELFARE_SUBGRAPH_SECRET"], id="short-secret"),
    pytest.param({"WELFARE_SUBGRAPH_HUB_ISSUER": ""}, True, ["WELFARE_SUBGRAPH_HUB_ISSUER"], id="no-issuer"),
    pytest.param({"WELFARE_SUBGRAPH_HUB_ISSUER": ""}, False, [], id="no-issuer-not-serving"),
    pytest.param({"WELFARE_SUBGRAPH_HUB_JWKS": ""}, True, ["WELFARE_SUBGRAPH_HUB_JWKS"], id="no-jwks"),
    pytest.param({"WELFARE_SUBGRAPH_HUB_JWKS": "/no/such/file"}, True, ["no file /no/such/file"], id="jwks-file"),
    pytest.param(
        {"WELFARE_SUBGRAPH_HUB_JWKS": "http://hub.example/.well-known/jwks.json"}, True, ["only on loopback"], id="http"
    ),
    pytest.param({"WELFARE_SUBGRAPH_HUB_JWKS": "http://127.0.0.1:8000/.well-known/jwks.json"}, True, [], id="loopback"),
    pytest.param({"WELFARE_SUBGRAPH_HUB_JWKS": "https://hub.example/.well-known/jwks.json"}, True, [], id="https"),
    pytest.param({"WELFARE_SUBGRAPH_TIMEOUT": "0"}, True, ["WELFARE_SUBGRAPH_TIMEOUT"], id="timeout-zero"),
    pytest.param({"WELFARE_SUBGRAPH_TIMEOUT": "soon"}, True, ["WELFARE_SUBGRAPH_TIMEOUT"], id="timeout-word"),
    pytest.param({"WELFARE_SUBGRAPH_POLICY": "/no/policy.toml"}, True, ["WELFARE_SUBGRAPH_POLICY"], id="policy"),
    pytest.param(
        {"WELFARE_SUBGRAPH_DATABASE_URL": "", "WELFARE_SUBGRAPH_SECRET": "", "WELFARE_SUBGRAPH_HUB_ISSUER": ""},
        True,
        ["WELFARE_SUBGRAPH_DATABASE_URL", "WELFARE_SUBGRAPH_SECRET", "WELFARE_SUBGRAPH_HUB_ISSUER"],
        id="all-at-once",
    ),
]


@pytest.mark.parametrize(("changes", "serving", "problems"), CASES)
def test_configuration_from_the_environment(
    jwks: Path, changes: dict[str, str], serving: bool, problems: list[str]
) -> None:
    env = {**GOOD, "WELFARE_SUBGRAPH_HUB_JWKS": str(jwks), **changes}
    if not problems:
        config = SubgraphConfig.from_environ(env, source="hb", serving=serving)
        assert config.source == "hb"
        assert config.secret == env["WELFARE_SUBGRAPH_SECRET"].encode()
        return
    with pytest.raises(ConfigError) as raised:
        SubgraphConfig.from_environ(env, source="hb", serving=serving)
    text = "\n".join(raised.value.problems)
    assert len(raised.value.problems) == len(problems)
    for needle in problems:
        assert needle in text
    assert "s" * 32 not in text  # a secret is never echoed


def test_source_names() -> None:
    assert [source_name(s) for s in ("dwp", "hb", "social-care")] == ["dwp", "hb", "social_care"]
    with pytest.raises(ConfigError):
        source_name("nhs")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ask() -> Ask:
    return Ask("BLUE_BADGE", "basis", "org", "council_blue_badge", uuid.uuid4(), {})


async def test_a_rotated_key_is_learnt_at_most_once_a_minute(tmp_path: Path) -> None:
    old, new = IssuerKey.generate("hub-1"), IssuerKey.generate("hub-2")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(old.jwks()))
    clock = Clock()
    keys = HubKeys(issuer="hub", audience="dwp", path=path, now=clock)
    await keys.load()
    body = b"{}"
    signed_new = AssertionSigner(new.private_key, new.kid, issuer="hub").mint(
        audience="dwp", ask=_ask(), fields=[], body=body, now=time.time()
    )
    path.write_text(json.dumps({"keys": [old.jwk(), new.jwk()]}))  # the hub rotates
    with pytest.raises(InvalidAssertion, match="unknown signing key"):
        await keys.verify(signed_new, body)  # read a moment ago: not again yet
    clock.now += 61
    assert (await keys.verify(signed_new, body)).audience == "dwp"
    # A forged key id makes one re-read a minute, not one per call.
    forged = AssertionSigner(IssuerKey.generate("hub-9").private_key, "hub-9", issuer="hub")
    clock.now += 61
    for _ in range(3):
        with pytest.raises(InvalidAssertion, match="unknown signing key"):
            await keys.verify(forged.mint(audience="dwp", ask=_ask(), fields=[], body=body), body)
    assert keys._loaded_at == clock.now


async def test_the_keys_are_read_from_the_hubs_url(tmp_path: Path) -> None:
    # The hub publishes its JWKS over HTTP: a real server on loopback, read off the event loop.
    import http.server
    import threading

    key = IssuerKey.generate("hub-url-1")
    document = json.dumps(key.jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        config = SubgraphConfig.from_environ({**GOOD, "WELFARE_SUBGRAPH_HUB_JWKS": url}, source="dwp")
        assert config.jwks_url == url
        keys = HubKeys(issuer="hub", audience="dwp", url=config.jwks_url)
        await keys.load()
        token = AssertionSigner(key.private_key, key.kid, issuer="hub").mint(
            audience="dwp", ask=_ask(), fields=["DwpPerson.nino"], body=b"{}"
        )
        assert (await keys.verify(token, b"{}")).fields == {"DwpPerson.nino"}
    finally:
        server.shutdown()
        server.server_close()
