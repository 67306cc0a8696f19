"""Every refusal at a subgraph's boundary is answered before anything is read: no fetch and no statement on
the source's tables in the request's own spans, and the access log shows the refusal, never an answer."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest

from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner
from tests.people import BADGE_DLA, PIP_LOW
from tests.subgraphs.conftest import HUB_ISSUER, Call, Running, ask, call, entities_document, post

BADGE = {"DwpPerson": frozenset({"blueBadgeAutomaticEligibility"})}
DOCUMENT = entities_document("DwpPerson", "blueBadgeAutomaticEligibility")
VARIABLES = {"r": [{"__typename": "DwpPerson", "nino": BADGE_DLA}]}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def read_nothing(answer: Call) -> None:
    names = [s["name"] for s in answer.spans]
    assert names, answer.body  # the spans were returned, so their absence below means something
    assert "fetch" not in names
    assert not [n for n in names if n.startswith(("SELECT", "WITH"))], names


async def log_rows(conn: asyncpg.Connection, jti: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM dwp.hub_access_log WHERE jti = $1", jti))


Case = Callable[[AssertionSigner, Running], Awaitable[Call]]


def _claims(the_ask: Any, body: bytes, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": HUB_ISSUER,
        "aud": "dwp",
        "sub": the_ask.org,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "purpose": the_ask.purpose,
        "legal_basis": the_ask.legal_basis,
        "org": the_ask.org,
        "org_type": the_ask.org_type,
        "audit_id": str(the_ask.audit_id),
        "fields": ["DwpPerson.blueBadgeAutomaticEligibility"],
        "councils": ["E09000901"],
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    claims.update(changes)
    return claims


async def _send(running: Running, body: bytes, token: str | None, the_ask: Any) -> Call:
    status, answer = await post(running.url, body, token=token)
    jti = (
        "" if token is None or token.count(".") != 2 else jwt.decode(token, options={"verify_signature": False})["jti"]
    )
    return Call(status, answer, the_ask, jti=jti, token=token or "", raw=body)


def _body(query: str = DOCUMENT, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": VARIABLES if variables is None else variables})


async def no_token(signer: AssertionSigner, running: Running) -> Call:
    return await _send(running, _body(), None, ask(BADGE, purpose="BLUE_BADGE"))


async def alg_none(signer: AssertionSigner, running: Running) -> Call:
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    header = {"alg": "none", "typ": "purpose+jwt", "kid": "hub-assert-1"}
    token = f"{_b64(header)}.{_b64(_claims(the_ask, body))}."
    return await _send(running, body, token, the_ask)


def _signed(key: IssuerKey, claims: dict[str, Any], typ: str = "purpose+jwt") -> str:
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": typ})


def signed_with(**changes: Any) -> Case:
    async def case(signer: AssertionSigner, running: Running) -> Call:
        the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
        key = IssuerKey(signer._key, signer.kid)
        return await _send(running, body, _signed(key, _claims(the_ask, body, **changes)), the_ask)

    return case


async def wrong_audience(signer: AssertionSigner, running: Running) -> Call:
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    return await _send(running, body, signer.mint(audience="hb", ask=the_ask, fields=[], body=body), the_ask)


async def wrong_issuer(signer: AssertionSigner, running: Running) -> Call:
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    other = AssertionSigner(signer._key, signer.kid, issuer="https://not-the-hub.invalid")
    token = other.mint(audience="dwp", ask=the_ask, fields=["DwpPerson.blueBadgeAutomaticEligibility"], body=body)
    return await _send(running, body, token, the_ask)


async def expired(signer: AssertionSigner, running: Running) -> Call:
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    fields = ["DwpPerson.blueBadgeAutomaticEligibility"]
    token = signer.mint(audience="dwp", ask=the_ask, fields=fields, body=body, now=time.time() - 600)
    return await _send(running, body, token, the_ask)


async def other_body(signer: AssertionSigner, running: Running) -> Call:
    # An assertion for one person, replayed with another's representation.
    the_ask = ask(BADGE, purpose="BLUE_BADGE")
    fields = ["DwpPerson.blueBadgeAutomaticEligibility"]
    token = signer.mint(audience="dwp", ask=the_ask, fields=fields, body=_body())
    other = _body(variables={"r": [{"__typename": "DwpPerson", "nino": PIP_LOW}]})
    return await _send(running, other, token, the_ask)


async def unknown_key(signer: AssertionSigner, running: Running) -> Call:
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    forger = IssuerKey.generate("hub-assert-1")  # the hub's key id, someone else's key
    return await _send(running, body, _signed(forger, _claims(the_ask, body)), the_ask)


async def callers_token(signer: AssertionSigner, running: Running) -> Call:
    # A bearer token of the hub's own callers (typ JWT), even one signed with the right key, is no assertion.
    the_ask, body = ask(BADGE, purpose="BLUE_BADGE"), _body()
    key = IssuerKey(signer._key, signer.kid)
    return await _send(running, body, _signed(key, _claims(the_ask, body), typ="JWT"), the_ask)


async def field_not_named(signer: AssertionSigner, running: Running) -> Call:
    # The assertion names the yes/no; the document also asks for the awards.
    selection = {"DwpPerson": frozenset({"blueBadgeAutomaticEligibility", "awardsInPayment"})}
    document = entities_document("DwpPerson", "blueBadgeAutomaticEligibility awardsInPayment { benefit }")
    the_ask = ask(selection, purpose="CARE_CHARGING_DOMICILIARY")
    return await call(signer, running, document, VARIABLES, the_ask, fields=["DwpPerson.blueBadgeAutomaticEligibility"])


async def field_not_in_own_policy(signer: AssertionSigner, running: Running) -> Call:
    # The hub's assertion names the awards for Blue Badge; DWP's own policy answers only the yes/no for it.
    selection = {"DwpPerson": frozenset({"awardsInPayment"}), "BenefitAward": frozenset({"benefit"})}
    document = entities_document("DwpPerson", "awardsInPayment { benefit }")
    return await call(signer, running, document, VARIABLES, ask(selection, purpose="BLUE_BADGE"))


async def field_behind_a_fragment(signer: AssertionSigner, running: Running) -> Call:
    document = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... P } } "
        "fragment P on DwpPerson { blueBadgeAutomaticEligibility ...Q } fragment Q on DwpPerson { declaredCapital { amount } }"
    )
    return await call(signer, running, document, VARIABLES, ask(BADGE, purpose="BLUE_BADGE"))


async def introspection(signer: AssertionSigner, running: Running) -> Call:
    return await call(signer, running, "{ __schema { types { name } } }", {}, ask(BADGE, purpose="BLUE_BADGE"))


async def type_introspection(signer: AssertionSigner, running: Running) -> Call:
    query = '{ __type(name: "DwpPerson") { fields { name } } }'
    return await call(signer, running, query, {}, ask(BADGE, purpose="BLUE_BADGE"))


async def candidates_outside_linkage(signer: AssertionSigner, running: Running) -> Call:
    query = 'query { candidates(queries: [{family: "OKAFOR", dob: "1950-03-14"}]) { query recordId } }'
    fields = ["Query.candidates", "Candidate.query", "Candidate.recordId"]
    return await call(signer, running, query, {}, ask({}, purpose="BLUE_BADGE"), fields=fields)


async def unknown_field(signer: AssertionSigner, running: Running) -> Call:
    document = entities_document("DwpPerson", "blueBadgeAutomaticEligibilit")
    return await call(signer, running, document, VARIABLES, ask(BADGE, purpose="BLUE_BADGE"))


REFUSALS = [
    pytest.param(no_token, 401, "ASSERTION_INVALID", "assertion missing", id="no-token"),
    pytest.param(alg_none, 401, "ASSERTION_INVALID", "assertion algorithm not accepted", id="alg-none"),
    pytest.param(wrong_audience, 401, "ASSERTION_INVALID", "assertion wrong audience", id="wrong-audience"),
    pytest.param(wrong_issuer, 401, "ASSERTION_INVALID", "assertion wrong issuer", id="wrong-issuer"),
    pytest.param(expired, 401, "ASSERTION_INVALID", "assertion expired", id="expired"),
    pytest.param(other_body, 401, "ASSERTION_INVALID", "assertion not for this request", id="other-body"),
    pytest.param(unknown_key, 401, "ASSERTION_INVALID", "assertion invalid", id="forged-key"),
    pytest.param(callers_token, 401, "ASSERTION_INVALID", "assertion not a purpose assertion", id="caller-token"),
    pytest.param(signed_with(fields="all"), 401, "ASSERTION_INVALID", "assertion invalid fields", id="bad-fields"),
    pytest.param(field_not_named, 200, "FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED", id="field-not-in-claims"),
    pytest.param(field_not_in_own_policy, 200, "FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED", id="field-not-in-policy"),
    pytest.param(field_behind_a_fragment, 200, "FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED", id="fragment"),
    pytest.param(unknown_field, 200, "FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED", id="unknown-field"),
    pytest.param(introspection, 200, "INTROSPECTION_DISABLED", "INTROSPECTION_DISABLED", id="introspection"),
    pytest.param(type_introspection, 200, "INTROSPECTION_DISABLED", "INTROSPECTION_DISABLED", id="type"),
    pytest.param(candidates_outside_linkage, 200, "FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED", id="candidates"),
]


@pytest.mark.parametrize(("case", "status", "code", "reason"), REFUSALS)
async def test_refused_before_anything_is_read(
    subgraphs: dict[str, Running],
    signer: AssertionSigner,
    store_conns: dict[str, asyncpg.Connection],
    case: Case,
    status: int,
    code: str,
    reason: str,
) -> None:
    conn = store_conns["dwp"]
    before = await conn.fetchval("SELECT coalesce(max(entry_id), 0) FROM dwp.hub_access_log")
    answer = await case(signer, subgraphs["dwp"])
    assert answer.status == status, answer.body
    assert answer.codes == [code], answer.body
    assert answer.body.get("data") is None
    assert "did you mean" not in json.dumps(answer.body).lower()
    read_nothing(answer)
    rows = await conn.fetch("SELECT * FROM dwp.hub_access_log WHERE entry_id > $1 ORDER BY entry_id", before)
    mine = [r for r in rows if r["jti"] == answer.jti or (r["jti"] is None and r["reason"] == reason)]
    assert [(r["outcome"], r["reason"]) for r in mine][-1:] == [("refused", reason)]
    assert not [r for r in rows if r["jti"] == answer.jti and r["outcome"] != "refused"]


async def test_a_replayed_assertion_is_refused_before_anything_is_read(
    subgraphs: dict[str, Running], signer: AssertionSigner, store_conns: dict[str, asyncpg.Connection]
) -> None:
    first = await call(signer, subgraphs["dwp"], DOCUMENT, VARIABLES, ask(BADGE, purpose="BLUE_BADGE"))
    assert first.status == 200
    assert first.body["data"]["_entities"][0]["blueBadgeAutomaticEligibility"] is True
    status, again = await post(subgraphs["dwp"].url, first.raw, token=first.token)
    assert status == 401
    assert [e["extensions"]["code"] for e in again["errors"]] == ["ASSERTION_INVALID"]
    read_nothing(Call(status, again, first.ask))
    rows = await log_rows(store_conns["dwp"], first.jti)
    assert [r["outcome"] for r in rows] == ["answered"]
    replays = await store_conns["dwp"].fetch(
        "SELECT * FROM dwp.hub_access_log WHERE audit_id = $1 AND jti IS NULL", first.ask.audit_id
    )
    assert [(r["outcome"], r["reason"]) for r in replays] == [("refused", "assertion replayed")]


async def test_only_post_graphql_is_served(subgraphs: dict[str, Running]) -> None:
    url = subgraphs["dwp"].url
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 405
        assert (await client.put(url, content=b"{}")).status_code == 405
        assert (await client.post(url.replace("/graphql", "/other"), content=b"{}")).status_code == 404
        too_big = await client.post(url, content=b" " * ((1 << 20) + 1))
        assert too_big.status_code == 413
        assert too_big.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
        bad = await client.post(url, content=b"{not json")
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        shape = await client.post(url, content=b'["query"]')
        assert shape.status_code == 400


async def test_service_sdl_needs_an_assertion_of_any_purpose(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    query = "{ _service { sdl } }"
    answer = await call(signer, subgraphs["hb"], query, {}, ask({}, purpose="HB_OVERNIGHT_CARER_ROOM"), fields=[])
    assert answer.status == 200
    printed = (Path(__file__).parents[2] / "subgraphs" / "hb.graphql").read_text()
    assert answer.body["data"]["_service"]["sdl"] + "\n" == printed
    status, refused = await post(subgraphs["hb"].url, orjson.dumps({"query": query}), token=None)
    assert status == 401
    assert "data" not in refused


async def test_a_costly_document_is_refused(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    # Fragments spreading fragments: counted once each, and still refused when the total is too large.
    fragments = " ".join(
        f"fragment F{i} on DwpPerson {{ a{i}: blueBadgeAutomaticEligibility ...F{i + 1} ...F{i + 1} }}"
        for i in range(30)
    )
    document = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ...F0 } } "
        + fragments
        + " fragment F30 on DwpPerson { blueBadgeAutomaticEligibility }"
    )
    answer = await call(signer, subgraphs["dwp"], document, VARIABLES, ask(BADGE, purpose="BLUE_BADGE"))
    assert answer.codes == ["QUERY_TOO_COMPLEX"]
    read_nothing(answer)


async def test_fragments_nested_past_the_stack_are_refused(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    for n, refused in ((99, False), (100, True), (1200, True)):
        fragments = " ".join(f"fragment F{i} on DwpPerson {{ ...F{i + 1} }}" for i in range(n))
        document = (
            "query($r: [_Any!]!) { _entities(representations: $r) { ...F0 } } "
            + fragments
            + f" fragment F{n} on DwpPerson {{ blueBadgeAutomaticEligibility }}"
        )
        answer = await call(signer, subgraphs["dwp"], document, VARIABLES, ask(BADGE, purpose="BLUE_BADGE"))
        assert answer.status == 200
        if refused:
            assert answer.codes == ["QUERY_TOO_COMPLEX"]
            read_nothing(answer)
        else:
            assert answer.body["data"]["_entities"] == [{"blueBadgeAutomaticEligibility": True}]
