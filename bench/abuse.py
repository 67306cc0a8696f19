"""What abuse costs the hub's other callers: the event-loop stall a benign request sees while the hub is
attacked, and what the rate limiter lets through.

    python -m bench.abuse [--people 2000] [--seconds 8] [--attackers 16] [--database-url URL]

The hub runs as its own process (``welfare-hub serve``, uvicorn, one worker, production mode, the shipped
rate limits). A benign probe (a real person lookup by another team of the same council, its 50 officers
taking turns, from a process of its own) is sent every 20 ms throughout; each phase runs ``--attackers``
concurrent clients for ``--seconds``, as one officer of the attacking team:

- ``quiet``: no attack (the baseline, same run);
- ``fan-out``: a ~1 KB document of 25 fragments each spreading the next three times (3**25 fields once
  expanded), with a valid token;
- ``enumeration``: lookups of people outside the caller's area, by NINO and by a date-of-birth sweep, as
  fast as the hub answers (one user);
- ``refused-tokens``: requests with tokens whose signature is wrong.

For each phase: the probe's p50/p99/max latency (the stall other callers see), the attack requests sent
and how they were answered (status codes, GraphQL codes), and the hub's CPU per attack request. Figures
are written to bench/results/ with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hubserver import BENCH_ORG, add_load_arguments, bench_caller, cpu_seconds, hub_env, hub_server, seeded_stores
from bench.results_file import this_command, write_result
from hub.access.orgs import Organisation
from hub.ops.issuer import IssuerKey
from hub.ops.linking import save_model, train_model
from hub.ops.migrate import connect_store, drop_stores
from hub.records.orgs import upsert

PROBE = """query Probe($nino: String!) { person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId socialCare { domiciliaryHoursPerWeek } } }"""
BY_NINO = "query($n: String!) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }"
BY_DETAILS = (
    "query($d: PersonDemographics!) { person(demographics: $d, purpose: CARE_CHARGING_DOMICILIARY) { subjectId } }"
)
COUNCIL = "E09000901"
PROBE_ORG = "bench-probe-team"


def fan_out(levels: int, spreads: int) -> str:
    """``levels`` fragments, each spreading the next ``spreads`` times: spreads**levels fields expanded."""
    lines = ["query Bomb { ...F0 }"]
    lines += [f"fragment F{i} on Query {{ {' '.join([f'...F{i + 1}'] * spreads)} }}" for i in range(levels)]
    lines.append(f"fragment F{levels} on Query {{ __typename }}")
    return "\n".join(lines)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _answer(response: aiohttp.ClientResponse) -> str:
    """How one request was answered: its status, and the GraphQL code of a 200 with errors."""
    if response.status != 200:
        return str(response.status)
    body = await response.json()
    errors = body.get("errors") or []
    return "200 " + (",".join(sorted({str(e.get("extensions", {}).get("code")) for e in errors})) or "ok")


async def _probe(url: str, tokens: list[str], ninos: list[str], seconds: float) -> tuple[list[float], dict[str, int]]:
    """The benign callers: one person lookup every 20 ms for ``seconds``, by the officers of another team in
    turn (each within their own rate limit); each one's latency and answer."""
    latencies: list[float] = []
    answers: collections.Counter[str] = collections.Counter()
    stop = time.perf_counter() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        while time.perf_counter() < stop:
            headers = {"Authorization": f"Bearer {tokens[len(latencies) % len(tokens)]}"}
            started = time.perf_counter()
            payload = {"query": PROBE, "variables": {"nino": random.choice(ninos)}}
            async with session.post(url, json=payload, headers=headers) as r:
                answers[await _answer(r)] += 1
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, 0.02 - (time.perf_counter() - started)))
    return latencies, dict(answers)


def _probe_process(url: str, tokens: list[str], ninos: list[str], seconds: float, out: Any) -> None:
    out.put(asyncio.run(_probe(url, tokens, ninos, seconds)))


async def _phase(
    url: str,
    pid: int,
    probe_tokens: list[str],
    probe_ninos: list[str],
    attack: Callable[[aiohttp.ClientSession], Awaitable[str]] | None,
    *,
    seconds: float,
    attackers: int,
) -> dict[str, Any]:
    # The probe runs in a process of its own: the attackers' client work must not slow it down.
    results: Any = multiprocessing.get_context("spawn").Queue()
    prober = multiprocessing.get_context("spawn").Process(
        target=_probe_process, args=(url, probe_tokens, probe_ninos, seconds, results)
    )
    prober.start()
    await asyncio.sleep(0.5)  # the probe process has started (spawning takes a moment)
    stop = time.perf_counter() + seconds - 0.5
    answers: collections.Counter[str] = collections.Counter()
    cpu_before = cpu_seconds(pid)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=attackers)) as session:

        async def attacker() -> None:
            assert attack is not None
            while time.perf_counter() < stop:
                try:
                    answers[await attack(session)] += 1
                except (aiohttp.ClientError, TimeoutError) as e:
                    answers[type(e).__name__] += 1

        if attack is None:
            await asyncio.sleep(max(0.0, stop - time.perf_counter()))
        await asyncio.gather(*(attacker() for _ in range(attackers if attack else 0)))
    cpu = cpu_seconds(pid) - cpu_before
    latencies, probe_answers = await asyncio.to_thread(results.get, True, seconds + 60)
    await asyncio.to_thread(prober.join, 10)
    sent = sum(answers.values())
    return {
        "probe_p50_ms": statistics.median(latencies) * 1000,
        "probe_p99_ms": _percentile(latencies, 0.99) * 1000,
        "probe_max_ms": max(latencies) * 1000,
        "probes": len(latencies),
        "probe_answers": probe_answers,
        "attack_requests": sent,
        "attack_answers": dict(answers.most_common()),
        "hub_cpu_s": cpu,
        "hub_cpu_ms_per_attack_request": cpu / sent * 1000 if sent else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--attackers", type=int, default=16)
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    try:
        attackers_token = await bench_caller(settings, issuer, council=COUNCIL)  # registers BENCH_ORG
        # The benign callers are another team of the same council, 50 officers taking turns: the attacks
        # are measured by what they do to other callers, not to the attacker's own organisation.
        async with connect_store(settings, "hub") as hub:
            await upsert(hub, [Organisation(PROBE_ORG, "Probe team", "council_care_finance", council_code=COUNCIL)])
        key = IssuerKey.load(issuer)

        def mint(org: str, user: str) -> str:
            return key.mint(
                issuer=settings.issuer,
                audience=settings.audience,
                org=org,
                org_type="council_care_finance",
                user=user,
                purposes=["CARE_CHARGING_DOMICILIARY"],
            )

        probe_tokens = [mint(PROBE_ORG, f"probe-{n}") for n in range(50)]
        async with connect_store(settings, "src_dwp") as dwp, connect_store(settings, "src_hb") as hb:
            # Probed people: the council's own (an HB claim there); enumerated people: everyone else.
            ours = [
                r["nino"]
                for r in await hb.fetch(
                    "SELECT nino FROM hb.claim WHERE council_code = $1 AND nino IS NOT NULL", COUNCIL
                )
            ]
            others = await dwp.fetch(
                "SELECT nino, given_name, family_name, date_of_birth, postcode FROM dwp.person WHERE nino IS NOT NULL"
            )
        outsiders = [r for r in others if r["nino"] not in set(ours)]
        bomb = fan_out(25, 3)
        wrong_signature = attackers_token[:-6] + ("AAAAAA" if not attackers_token.endswith("AAAAAA") else "BBBBBB")
        # Each attack by an officer of its own (one user), so that one phase's spent bucket does not decide
        # the next's.
        attacker = {phase: mint(BENCH_ORG, f"attacker-{phase}") for phase in ("fan-out", "enumeration")}

        def post(session: aiohttp.ClientSession, url: str, token: str, payload: dict[str, Any]) -> Any:
            return session.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})

        # A linkage model, so that lookups by details are matched (not refused as LINKAGE_UNAVAILABLE).
        model_path = settings.data_dir / "link-model.json"
        save_model(await train_model(settings, sample=args.people), model_path)
        keys = settings.data_dir / "keys"  # as hub.ops.demo.ensure_keys made them (production names each one)
        env = hub_env(settings) | {
            "WELFARE_HUB_ENV": "production",
            "WELFARE_HUB_JWKS": str(settings.jwks_path),
            "WELFARE_HUB_KEYS": str(settings.keys_path),
            "WELFARE_HUB_AUDIT_KEYS": str(keys / "audit-signing.json"),
            "WELFARE_HUB_LINK_MODEL": str(model_path),
            "WELFARE_HUB_RATE_LIMITS": str(Path(__file__).resolve().parents[1] / "policy" / "ratelimits.toml"),
        }
        async with hub_server(env) as (url, pid):

            async def fan_out_attack(session: aiohttp.ClientSession) -> str:
                async with post(session, url, attacker["fan-out"], {"query": bomb}) as r:
                    return await _answer(r)

            async def enumeration(session: aiohttp.ClientSession) -> str:
                person = random.choice(outsiders)
                if random.random() < 0.5:
                    payload: dict[str, Any] = {"query": BY_NINO, "variables": {"n": person["nino"]}}
                else:
                    dob = person["date_of_birth"] + dt.timedelta(days=random.randint(-30, 30))
                    details = {
                        "givenName": person["given_name"],
                        "familyName": person["family_name"],
                        "dateOfBirth": dob.isoformat(),
                        "postcode": person["postcode"],
                    }
                    payload = {"query": BY_DETAILS, "variables": {"d": details}}
                async with post(session, url, attacker["enumeration"], payload) as r:
                    return await _answer(r)

            async def refused_tokens(session: aiohttp.ClientSession) -> str:
                async with post(session, url, wrong_signature, {"query": BY_NINO, "variables": {"n": ours[0]}}) as r:
                    return await _answer(r)

            phases: dict[str, Any] = {}
            for name, attack in (
                ("quiet", None),
                ("fan-out", fan_out_attack),
                ("enumeration", enumeration),
                ("refused-tokens", refused_tokens),
            ):
                print(f"phase {name} ...", flush=True)
                phases[name] = await _phase(
                    url, pid, probe_tokens, ours, attack, seconds=args.seconds, attackers=args.attackers
                )
                await asyncio.sleep(1.0)  # let the last phase's stragglers end
    finally:
        await drop_stores(settings)

    quiet = phases["quiet"]
    rows = [
        "| phase | probe p50 ms | probe p99 ms | probe max ms | p99 vs quiet | attack requests | answered | hub CPU ms / attack req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in phases.items():
        answered = ", ".join(f"{k}: {v}" for k, v in p["attack_answers"].items()) or "-"
        cpu = f"{p['hub_cpu_ms_per_attack_request']:.2f}" if p["hub_cpu_ms_per_attack_request"] else "-"
        rows.append(
            f"| {name} | {p['probe_p50_ms']:.1f} | {p['probe_p99_ms']:.1f} | {p['probe_max_ms']:.1f} | "
            f"{p['probe_p99_ms'] / quiet['probe_p99_ms']:.2f}x | {p['attack_requests']} | {answered} | {cpu} |"
        )
    paragraphs = [
        f"Hub as its own process (production mode), {args.people} synthetic people, {args.attackers} attackers "
        f"per phase for {args.seconds:g} s, a benign probe every 20 ms throughout. The probe's latency is the "
        "stall other callers see; 'answered' is what the hub (and its rate limiter) did with the attack.",
    ]
    write_result(
        "abuse",
        "Abuse: event-loop stall and what got through",
        this_command("bench.abuse"),
        paragraphs,
        "\n".join(rows),
        {"args": vars(args), "phases": phases},
    )


if __name__ == "__main__":
    asyncio.run(main())
