"""``welfare-hub demo``: seed the sources, register the demo organisations, mint their tokens, build the link
index, print ready-to-paste example queries and the auditor console's address and token, then serve.

Everything here uses the real parts (PostgreSQL, Ed25519-signed tokens, HMAC keys); only the data and the
organisations are invented.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg

from hub.cli.datadir import ENV_VARIABLE
from hub.config import Settings
from hub.console import ROOT as CONSOLE_ROOT
from hub.ops.demo import (
    DEMO_AUDITOR,
    DEMO_COUNCIL,
    DEMO_ORGS,
    ensure_keys,
    mint_demo_tokens,
    register_demo_orgs,
    seed_sources,
)
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import migration_url
from hub.ops.subgraphs import SubgraphProcess, running_subgraphs
from hub.serve import serve
from hub.types import SOURCE_STORES

__all__ = ["run_demo"]

_BLUE_BADGE_QUERY = """query BlueBadge($nino: String!) {
  person(nino: $nino, purpose: BLUE_BADGE) {
    subjectId
    dwp { blueBadgeAutomaticEligibility }
  }
}"""

_OVERNIGHT_QUERY = """query OvernightCarer($nino: String!) {
  person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) {
    subjectId
    socialCare { overnightCareRequired }
  }
}"""

_BY_DETAILS_QUERY = """query ByDetails($details: PersonDemographics) {
  person(demographics: $details, purpose: CARE_CHARGING_DOMICILIARY) {
    subjectId
    housingBenefit { claims { tenancyType weeklyRent weeklyAward } }
    socialCare { domiciliaryHoursPerWeek }
  }
}"""

_CARE_CHARGING_QUERY = """query CareCharging($nino: String!) {
  person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
    subjectId
    dwp {
      awardsInPayment { benefit component rate weeklyAmount }
      declaredIncome { kind weeklyAmount }
      declaredCapital { kind amount }
    }
    housingBenefit { claims { tenancyType weeklyRent weeklyAward } }
    socialCare {
      domiciliaryHoursPerWeek
      financialAssessments { assessedOn weeklyAssessedCharge capitalBand }
    }
  }
}"""


async def _example_subjects(settings: Settings) -> dict[str, Any]:
    """Pick demo NINOs from the synthetic sources (read as the administrator, as a tester would)."""
    urls = {store: migration_url(settings, store) for store in SOURCE_STORES}
    dwp = await asyncpg.connect(urls["src_dwp"])
    hb = await asyncpg.connect(urls["src_hb"])
    sc = await asyncpg.connect(urls["src_social_care"])
    try:
        # People with a claim or a case at the demo council: its teams have a legitimate relationship with them.
        in_hb = {
            r["nino"]
            for r in await hb.fetch(
                "SELECT nino FROM hb.claim WHERE nino IS NOT NULL AND council_code = $1", DEMO_COUNCIL
            )
        }
        overnight = {
            r["nino"]
            for r in await sc.fetch(
                """SELECT DISTINCT c.nino FROM social_care.client c JOIN social_care.care_plan p USING (client_id)
                    WHERE c.nino IS NOT NULL AND p.overnight_care_required AND p.end_date IS NULL
                      AND c.council_code = $1""",
                DEMO_COUNCIL,
            )
        }
        badge = [
            r["nino"]
            for r in await dwp.fetch(
                """SELECT DISTINCT p.nino FROM dwp.person p JOIN dwp.benefit_award a USING (person_id)
                    WHERE a.end_date IS NULL AND ((a.benefit = 'DLA' AND a.component = 'mobility'
                          AND a.rate = 'higher') OR (a.benefit = 'PIP' AND a.component = 'mobility'
                          AND a.pip_moving_around_points >= 8)) ORDER BY p.nino"""
            )
        ]
    finally:
        await asyncio.gather(dwp.close(), hb.close(), sc.close())
    everywhere = sorted(set(badge) & in_hb & overnight) or sorted(in_hb & overnight) or sorted(overnight)
    local_badge = [n for n in badge if n in in_hb or n in overnight] or badge
    picks: dict[str, Any] = {
        "blue_badge": local_badge[0] if local_badge else "",
        "everywhere": everywhere[0] if everywhere else "",
    }
    dwp = await asyncpg.connect(urls["src_dwp"])
    try:
        person = await dwp.fetchrow(
            "SELECT given_name, family_name, date_of_birth, postcode FROM dwp.person WHERE nino = $1",
            picks["everywhere"],
        )
    finally:
        await dwp.close()
    picks["details"] = (
        {
            "givenName": person["given_name"],
            "familyName": person["family_name"],
            "dateOfBirth": person["date_of_birth"].isoformat(),
            "postcode": person["postcode"],
        }
        if person
        else {}
    )
    return picks


def _curl(url: str, token_var: str, query: str, variables: Mapping[str, Any]) -> str:
    body = json.dumps({"query": query, "variables": variables})
    return (
        f'curl -s {url} -H "Authorization: Bearer ${token_var}" -H "Content-Type: application/json" '
        f"-d {shlex.quote(body)}"
    )


def data_dir_line(settings: Settings, *, embedded: bool) -> str:
    """Where the demo keeps what it makes, and how to choose another place (every command reads the same)."""
    held = "keys, tokens, the link model, subgraph logs" + (", the embedded PostgreSQL in pg/" if embedded else "")
    return (
        f"welfare-hub demo: data directory {settings.data_dir} ({held}); "
        f"choose another with --data-dir DIR or {ENV_VARIABLE}"
    )


async def run_demo(settings: Settings, *, people: int, seed: int, embedded: bool) -> None:
    counts = await seed_sources(settings, people=people, seed=seed)
    await register_demo_orgs(settings)
    print(f"seeded {people} synthetic people: " + ", ".join(f"{t}={n}" for t, n in counts.items()))
    assert settings.jwks_path is not None
    tokens = mint_demo_tokens(settings, IssuerKey.load(settings.jwks_path.parent / "demo-issuer.json"))
    token_file = settings.data_dir / "demo-tokens.json"
    _write_private(token_file, json.dumps(tokens, indent=2))
    # The sources answer as their owners would: each its own subgraph process over its own store,
    # verifying the purpose assertion the hub signs on every question, and keeping its own access log.
    keys = ensure_keys(settings.data_dir)
    with running_subgraphs(
        settings, jwks=keys.assertion_jwks, first_port=settings.port + 1, folder=settings.data_dir
    ) as subgraphs:
        await _link_over(settings, subgraphs, people=people)
        await _show_and_serve(settings, subgraphs, tokens, token_file, embedded=embedded)


def _write_private(path: Path, text: str) -> None:
    """Live tokens: readable by this user only (the umask would let anyone on the machine use them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # a file made earlier with wider permissions
    with os.fdopen(fd, "w") as out:
        out.write(text)


async def _link_over(settings: Settings, subgraphs: Mapping[str, SubgraphProcess], *, people: int) -> None:
    """The link index, so lookups find council records whose NINO is missing or wrong: built across the
    boundary (each council's records through its feed, DWP asked only for their candidates)."""
    from hub.ops.issuer import IssuerKey
    from hub.ops.linking import save_model, train_model
    from hub.ops.linking.federated import build_links_federated
    from linkage import Thresholds
    from resolvers.sources.assertion import AssertionSigner
    from resolvers.sources.remote import subgraph_source

    # The model is trained where the data is (the operator's sample); the build asks the subgraphs.
    model = await train_model(settings, sample=people)
    if settings.link_model_path is not None:
        save_model(model, settings.link_model_path)
    assert settings.assertion_key_path is not None
    key = IssuerKey.load(settings.assertion_key_path)
    signer = AssertionSigner(key.private_key, key.kid, issuer=settings.assertion_issuer)
    dwp = subgraph_source("dwp", subgraphs["dwp"].url, signer=signer, timeout=60.0)
    hb = subgraph_source("hb", subgraphs["hb"].url, signer=signer, timeout=60.0)
    care = subgraph_source("social_care", subgraphs["social_care"].url, signer=signer, timeout=60.0)
    try:
        run = await build_links_federated(settings, dwp, [hb, care], model=model, thresholds=Thresholds())
    finally:
        for source in (dwp, hb, care):
            await source.aclose()
    print(f"link index built over the subgraphs (run {run.run}): " + json.dumps(run.counts.by_source))


async def _show_and_serve(
    settings: Settings,
    subgraphs: Mapping[str, SubgraphProcess],
    tokens: Mapping[str, str],
    token_file: Path,
    *,
    embedded: bool,
) -> None:
    picks = await _example_subjects(settings)
    base = f"http://{settings.host}:{settings.port}"
    url = f"{base}/graphql"
    print("\nwelfare-hub demo: tokens (valid 12 h) are in", token_file)
    for org in DEMO_ORGS:
        if org != DEMO_AUDITOR:
            print(f"export {org.token_variable}={tokens[org.org_id]}")
    print("\nBlue Badge team, a yes/no from DWP:")
    print(_curl(url, "NORTHSHIRE_BLUE_BADGE_TOKEN", _BLUE_BADGE_QUERY, {"nino": picks["blue_badge"]}))
    print("\nHB team, overnight-carer room (social care answers yes/no only):")
    print(_curl(url, "NORTHSHIRE_HB_TOKEN", _OVERNIGHT_QUERY, {"nino": picks["everywhere"]}))
    print("\nCare finance team, a financial assessment federated from all three sources:")
    print(_curl(url, "NORTHSHIRE_CARE_FINANCE_TOKEN", _CARE_CHARGING_QUERY, {"nino": picks["everywhere"]}))
    print("\nCare finance team, no NINO: the same person found by their details (demographic fallback):")
    print(_curl(url, "NORTHSHIRE_CARE_FINANCE_TOKEN", _BY_DETAILS_QUERY, {"details": picks["details"]}))
    print(
        f'\nGraphiQL: open {url} in a browser and add the header {{"Authorization": "Bearer <token>"}} (Headers tab).'
    )
    print("The Blue Badge token asking for awardsInPayment is refused with PURPOSE_FORBIDS_FIELD.")
    print("\nThe sources are Apollo Federation v2 subgraphs, each its own process (the hub reads no source database):")
    for name, sub in subgraphs.items():
        print(f"  {name}: {sub.url}/graphql  (log {sub.log})")
    print("Each keeps its own access log: welfare-hub subgraph dwp access-log --audit-id <a receipt's requestId>")
    print(
        f"\nAuditor console (organisation {DEMO_AUDITOR.org_id}, type {DEMO_AUDITOR.org_type}, purpose AUDIT): "
        "every request above in the audit log, the chain's verification, anomalies."
    )
    print(f"Open {base}{CONSOLE_ROOT} and sign in with this token (the part after the =):")
    print(f"export {DEMO_AUDITOR.token_variable}={tokens[DEMO_AUDITOR.org_id]}")
    print("\n" + data_dir_line(settings, embedded=embedded))
    print("Stop with Ctrl-C.\n", flush=True)  # all of it before the server starts (stdout may be a pipe)
    await serve(dataclasses.replace(settings, subgraph_urls={n: s.url for n, s in subgraphs.items()}))
