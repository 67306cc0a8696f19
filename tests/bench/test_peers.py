"""The peer benchmark's own pieces that decide what it reports: the gateways' assertion (signer.mjs) must
verify at a subgraph exactly as the hub's does, and the answer check must catch a NINO in clear, a wrong
value and a missing person, while a Decimal's spelling is not a difference."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.peers.run import ROOT, Signer, Target, _mismatch
from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionVerifier, InvalidAssertion

CLAIMS = {
    "purpose": "CARE_CHARGING_DOMICILIARY",
    "legal_basis": "SI 2012/1483 reg. 5(1)(c)",
    "org": "bench-council",
    "org_type": "council_care_finance",
    "fields": {
        s: [f"{e}.nino", f"{e}.recordId"]
        for s, e in {"dwp": "DwpPerson", "hb": "HbPerson", "social_care": "CareClient"}.items()
    },
}
URLS = {
    "dwp": "http://127.0.0.1:1/graphql",
    "hb": "http://127.0.0.1:2/graphql",
    "social_care": "http://127.0.0.1:3/graphql",
}


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Signer, IssuerKey, Path]:
    key = IssuerKey.generate(kid="hub-test")
    key.save(tmp_path / "hub-assertion.json")
    signer = Signer(tmp_path / "hub-assertion.json", "welfare-hub", CLAIMS)
    config = tmp_path / "signer.json"
    config.write_text(json.dumps(signer.node_config(URLS)))
    return signer, key, config


def _node_assertion(config: Path, url: str, body: str) -> str:
    script = (
        f"const m = await import({json.dumps(str(ROOT / 'bench' / 'peers' / 'signer.mjs'))});"
        f"const s = m.sourceOf({json.dumps(url)});"
        f"process.stdout.write(s === null ? 'none' : m.assertion(s, {json.dumps(body)}));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        env={"PEERS_SIGNER": str(config), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_gateways_assertion_verifies_at_the_subgraph_bound_to_its_body(
    signer: tuple[Signer, IssuerKey, Path],
) -> None:
    _, key, config = signer
    body = '{"query":"query($r:[_Any!]!){_entities(representations:$r){__typename}}","variables":{"r":[]}}'
    token = _node_assertion(config, URLS["hb"], body)
    verifier = AssertionVerifier(key.jwks(), issuer="welfare-hub", audience="hb")
    claims = verifier.verify(token, body.encode())
    assert claims.purpose == "CARE_CHARGING_DOMICILIARY"
    assert claims.org == "bench-council"
    assert claims.fields == frozenset({"HbPerson.nino", "HbPerson.recordId"})
    assert claims.councils is None
    # Bound to the body and addressed to one source, as the hub's own is.
    with pytest.raises(InvalidAssertion, match="not for this request"):
        verifier.verify(token, body.encode() + b" ")
    with pytest.raises(InvalidAssertion, match="wrong audience"):
        AssertionVerifier(key.jwks(), issuer="welfare-hub", audience="dwp").verify(token, body.encode())
    # Every call a fresh assertion (the subgraph refuses a replayed jti).
    assert _node_assertion(config, URLS["hb"], body) != token
    # The entry subgraph (not one of the sources) is not signed for.
    assert _node_assertion(config, "http://127.0.0.1:9/graphql", body) == "none"


def test_the_python_signer_verifies_too(signer: tuple[Signer, IssuerKey, Path]) -> None:
    python, key, _ = signer
    token = python.mint("social_care", b"{}")
    claims = AssertionVerifier(key.jwks(), issuer="welfare-hub", audience="social_care").verify(token, b"{}")
    assert claims.fields == frozenset({"CareClient.nino", "CareClient.recordId"})


HUB = Target("hub", "http://x/graphql", 1, "", {}, gateway=False)
GATEWAY = Target("apollo", "http://x/", 1, "", {}, gateway=True)
EXPECTED = {"dwp": {"awardsInPayment": [{"weeklyAmount": "141.50"}]}, "housingBenefit": None, "socialCare": None}


@pytest.mark.parametrize(
    ("target", "answer", "absent", "problem"),
    [
        ("gateway", {"data": {"person": EXPECTED}}, False, None),
        # 141.5 and "141.50" are one Decimal.
        (
            "gateway",
            {"data": {"person": {**EXPECTED, "dwp": {"awardsInPayment": [{"weeklyAmount": 141.5}]}}}},
            False,
            None,
        ),
        # Errors beside matching data are counted apart, not a data mismatch.
        ("gateway", {"data": {"person": EXPECTED}, "errors": [{"message": "x"}]}, False, None),
        (
            "gateway",
            {"data": {"person": {**EXPECTED, "socialCare": {"domiciliaryHoursPerWeek": "0"}}}},
            False,
            "data differ",
        ),
        ("gateway", {"data": {"person": {**EXPECTED, "dwp": {"awardsInPayment": []}}}}, False, "data differ"),
        ("gateway", {"errors": [{"message": "down"}]}, False, "no data"),
        ("hub", {"data": {"person": {"subjectId": "ps_f7ffcc5ad832801ae7e684ae2d8883d4", **EXPECTED}}}, False, None),
        ("hub", {"data": {"person": {"subjectId": "AB123456C", **EXPECTED}}}, False, "not a pseudonym"),
        ("hub", {"data": {"person": {"subjectId": "ps_ab123456c", **EXPECTED}}}, False, "not a pseudonym"),
        ("hub", {"data": {"person": {**EXPECTED}}}, False, "not a pseudonym"),
        ("hub", {"data": {"person": None}}, False, "no person"),
        ("hub", {"data": {"person": None}, "errors": [{"extensions": {"code": "SUBJECT_NOT_FOUND"}}]}, True, None),
        (
            "hub",
            {"data": {"person": None}, "errors": [{"extensions": {"code": "SOURCE_UNAVAILABLE"}}]},
            True,
            "SUBJECT_NOT_FOUND",
        ),
    ],
)
def test_the_answer_check(target: str, answer: dict[str, object], absent: bool, problem: str | None) -> None:
    why = _mismatch(GATEWAY if target == "gateway" else HUB, "AB123456C", answer, EXPECTED, absent)
    if problem is None:
        assert why is None
    else:
        assert why is not None
        assert problem in why
