"""The peer benchmark (issue 15): the hub beside Apollo Gateway and Hive Gateway on the same three subgraphs.

    bench/peers/setup                                   # once: npm ci here, wrk
    python -m bench.peers.run [--people 3000] [--duration 15] [--warmup 5] [--runs 2] [--concurrency 1 32]

One command: fresh seeded stores, the three reference subgraphs (each its own process over its own store),
and the targets, each its own process, started one at a time on those same subgraphs and data and warmed up
(``--first-warmup``, 30 s), then measured in turn, round-robin so that drift on this shared machine hits
every target alike:

- ``hub``: the hub over the subgraphs (``python -m hub serve``, one uvicorn worker);
- ``hub-notrace``: the same with tracing off (``OTEL_SDK_DISABLED=true``), for the tracing ratio;
- ``apollo``: Apollo Gateway 2.14.4 (@apollo/server 5.5.1) over the composed supergraph;
- ``hive``: Hive Gateway 2.15.1, its default (JavaScript) query planner;
- ``hive-rust``: Hive Gateway 2.15.1 with ``--hive-router-runtime`` (the Rust query planner).

The gateways sign a purpose assertion onto every subgraph call exactly as the hub does (``signer.mjs``:
the hub's assertion key, the claims and field coordinates the hub itself sent, read back from the
subgraphs' access logs), so the subgraphs verify, guard and log the same work whoever asks. The sources'
supergraph has no root joining the three people, so the gateways ask a bench-only in-memory entry subgraph
(``entry.mjs``) for ``person(nino:)`` and then each source by ``_entities``: four upstream requests per
request against the hub's three (the entry's CPU is its own column).

Each (target, concurrency) run: the answers checked for a fixed sample of subjects against the subgraphs
answered directly (before and after), a wrk warm-up, the measured wrk run (closed loop, one random subject
per request), CPU from /proc for the target's own process tree and each subgraph, upstream requests counted
in the subgraphs' access logs and the entry's counter. The results go to bench/results/peers-<UTC>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import decimal
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench.hubserver import bench_caller, cpu_seconds, free_port, hub_env, hub_server, seeded_stores  # noqa: E402
from bench.latency import QUERY as HUB_QUERY  # noqa: E402
from bench.results_file import this_command, write_result  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.ops.demo import ensure_keys  # noqa: E402
from hub.ops.migrate import drop_stores, migration_url  # noqa: E402
from hub.ops.subgraphs import running_subgraphs  # noqa: E402

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
TARGETS = ("hub", "hub-notrace", "apollo", "hive", "hive-rust")
SOURCES = {"dwp": "src_dwp", "hb": "src_hb", "social_care": "src_social_care"}
ENTITIES = {"dwp": "DwpPerson", "hb": "HbPerson", "social_care": "CareClient"}
#: Where each source's answer sits in the person (the hub's field names, the entry subgraph's too).
PERSON_FIELD = {"dwp": "dwp", "hb": "housingBenefit", "social_care": "socialCare"}
#: The hub's care-charging selection per source (bench/latency.py QUERY without the purpose argument).
SELECTION = {
    "dwp": "awardsInPayment { benefit component rate weeklyAmount } declaredIncome { kind weeklyAmount }",
    "hb": "claims { tenancyType weeklyRent weeklyAward }",
    "social_care": "domiciliaryHoursPerWeek financialAssessments { weeklyAssessedCharge capitalBand }",
}
GATEWAY_QUERY = (
    "query Charging($nino: ID!) { person(nino: $nino) { "
    + " ".join(f"{PERSON_FIELD[s]} {{ {SELECTION[s]} }}" for s in SOURCES)
    + " } }"
)
DRAIN_SECONDS = 1.0
PURPOSE = "CARE_CHARGING_DOMICILIARY"
KEYS = ("nino", "recordId")  # every source entity's @key fields (subgraphs/*.graphql)
NPM_PACKAGES = (
    "@apollo/gateway",
    "@apollo/server",
    "@apollo/composition",
    "@apollo/subgraph",
    "@graphql-hive/gateway",
    "@graphql-hive/router-runtime",
    "@graphql-hive/router-query-planner",
    "graphql",
)
#: A NINO as it could appear in clear (a pseudonym is lower-case hex: it never matches).
_NINO = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")


# -- processes and /proc ---------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (a gateway that forks workers is charged for all of them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        try:
            total += cpu_seconds(p)
        except FileNotFoundError:  # a descendant that ended since the walk
            continue
    return total


@dataclasses.dataclass
class Target:
    name: str
    url: str
    pid: int
    body: str  # the request body template: {nino} is replaced per subject
    headers: dict[str, str]
    gateway: bool
    script: Path = Path()  # its wrk script


async def _ready(url: str, headers: Mapping[str, str], process: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited ({process.returncode}); see {log}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.post(url, json={"query": "{ __typename }"}, headers=headers) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready; see {log}")


@contextlib.asynccontextmanager
async def _node(name: str, argv: Sequence[str], env: Mapping[str, str], url: str, folder: Path) -> AsyncIterator[int]:
    """A node process (started as node itself, not through npx, so its pid is the one doing the work)."""
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["node", *argv], cwd=HERE, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        await _ready(url, {"content-type": "application/json"}, process, log)
        yield process.pid
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- the assertion the gateways sign, and the expected answers ------------------------------------------


async def _connect(url: str) -> asyncpg.Connection:
    """A connection, waiting out a full server (max_connections is shared with other work on this machine)."""
    for attempt in range(60):
        try:
            return await asyncpg.connect(url)
        except asyncpg.TooManyConnectionsError:
            await asyncio.sleep(0.5 + attempt * 0.1)
    return await asyncpg.connect(url)


class Counters:
    """The stores' own counts, read between runs on connections held open for the whole bench: each
    subgraph's access-log rows (upstream requests) and the hub's audit records (hub requests served)."""

    def __init__(self, conns: Mapping[str, asyncpg.Connection]) -> None:
        self.conns = conns

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Counters]:
        conns: dict[str, asyncpg.Connection] = {}
        try:
            for source, store in {**SOURCES, "hub": "hub"}.items():
                conns[source] = await _connect(migration_url(settings, store))
            yield cls(conns)
        finally:
            for conn in conns.values():
                await conn.close()

    async def read(self) -> dict[str, int]:
        out = {s: int(await self.conns[s].fetchval(f"SELECT count(*) FROM {s}.hub_access_log")) for s in SOURCES}
        row = await self.conns["hub"].fetchrow("SELECT count(*), coalesce(max(seq), 0) FROM hub.audit_event")
        out["audit"], out["audit_seq"] = int(row[0]), int(row[1])
        return out

    async def decisions(self, after_seq: int, upto_seq: int) -> dict[str, int]:
        """The hub's audit records in a window, by decision and reason (what the hub did with each request)."""
        rows = await self.conns["hub"].fetch(
            "SELECT decision, array_to_string(reason_codes, ',') AS reasons, count(*) AS n FROM hub.audit_event "
            "WHERE seq > $1 AND seq <= $2 GROUP BY 1, 2",
            after_seq,
            upto_seq,
        )
        return {f"{r['decision']}:{r['reasons'] or ''}": int(r["n"]) for r in rows}


async def _hub_claims(settings: Settings) -> dict[str, Any]:
    """What the hub itself asserted to each subgraph for the purpose: read back from the access logs."""
    claims: dict[str, Any] = {"fields": {}, "hub_fields": {}}
    for source, store in SOURCES.items():
        conn = await _connect(migration_url(settings, store))
        try:
            row = await conn.fetchrow(
                f"SELECT org, org_type, purpose, legal_basis, fields FROM {source}.hub_access_log "
                "WHERE purpose = $1 AND outcome = 'answered' AND $2 = ANY(fields) ORDER BY entry_id DESC LIMIT 1",
                PURPOSE,
                f"{ENTITIES[source]}.{SELECTION[source].split()[0]}",
            )
        finally:
            await conn.close()
        if row is None:
            raise RuntimeError(f"the hub asked {source} nothing for {PURPOSE}: no claims to sign with")
        claims.update(org=row["org"], org_type=row["org_type"], purpose=row["purpose"], legal_basis=row["legal_basis"])
        claims["hub_fields"][source] = sorted(row["fields"])
        # Plus the entity's keys, which this purpose's policy lets every caller echo: Hive's JavaScript planner
        # asks an entity's every @key field (recordId as well as nino) where the hub asks only the one it keys by.
        claims["fields"][source] = sorted({*row["fields"], *(f"{ENTITIES[source]}.{k}" for k in KEYS)})
    return claims


class Signer:
    """The hub's assertion, minted here in Python for the expected answers (the same claims signer.mjs uses)."""

    def __init__(self, key_file: Path, issuer: str, claims: Mapping[str, Any]) -> None:
        doc = json.loads(key_file.read_text())
        key = serialization.load_pem_private_key(doc["pem"].encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        self.key, self.kid, self.pem, self.issuer, self.claims = key, doc["kid"], doc["pem"], issuer, claims

    def mint(self, source: str, body: bytes) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": source,
            "sub": self.claims["org"],
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            "purpose": self.claims["purpose"],
            "legal_basis": self.claims["legal_basis"],
            "org": self.claims["org"],
            "org_type": self.claims["org_type"],
            "audit_id": str(uuid.uuid4()),
            "fields": self.claims["fields"][source],
            "councils": None,
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }

        def b64(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "EdDSA", "kid": self.kid, "typ": "purpose+jwt"}).encode())
        signing = f"{head}.{b64(json.dumps(claims).encode())}"
        return f"{signing}.{b64(self.key.sign(signing.encode()))}"

    def node_config(self, urls: Mapping[str, str]) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "pem": self.pem,
            "issuer": self.issuer,
            "lifetime": 60,
            "claims": {k: self.claims[k] for k in ("purpose", "legal_basis", "org", "org_type")} | {"councils": None},
            "sources": {urls[s]: {"name": s, "fields": self.claims["fields"][s]} for s in SOURCES},
        }


async def _expected(signer: Signer, urls: Mapping[str, str], ninos: Sequence[str]) -> dict[str, Any]:
    """Each subject's person as the subgraphs answer it directly (one _entities call a source, no target)."""
    people: dict[str, dict[str, Any]] = {n: {} for n in ninos}
    async with aiohttp.ClientSession() as session:
        for source, url in urls.items():
            entity = ENTITIES[source]
            document = {
                "query": f"query($r:[_Any!]!){{_entities(representations:$r){{...on {entity}{{{SELECTION[source]}}}}}}}",
                "variables": {"r": [{"__typename": entity, "nino": n} for n in ninos]},
            }
            body = json.dumps(document).encode()
            headers = {"authorization": f"Bearer {signer.mint(source, body)}", "content-type": "application/json"}
            async with session.post(url, data=body, headers=headers) as r:
                answer = await r.json()
            if r.status != 200 or answer.get("errors") or not isinstance(answer.get("data"), dict):
                raise RuntimeError(f"the {source} subgraph did not answer the expected-answer query: {answer}")
            for nino, item in zip(ninos, answer["data"]["_entities"], strict=True):
                people[nino][PERSON_FIELD[source]] = item
    return people


def _canonical(value: Any) -> Any:
    """Numbers as Decimals (a Decimal scalar may travel as "12.50" or 12.5) and lists compared in order."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return decimal.Decimal(str(value)).normalize()
    if isinstance(value, str):
        with contextlib.suppress(decimal.InvalidOperation):
            if re.fullmatch(r"-?\d+(\.\d+)?", value):
                return decimal.Decimal(value).normalize()
    return value


def _mismatch(target: Target, nino: str, answer: Any, expected: Mapping[str, Any], absent: bool) -> str | None:
    """Why the data of ``answer`` is not the expected person (None: it is). GraphQL errors beside matching
    data are not a mismatch here: they are counted apart (and by the load, as errors)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        return f"no data: {json.dumps(answer)[:300]}"
    person = answer["data"].get("person")
    if target.gateway:
        if _canonical(person) != _canonical(expected):
            return f"data differ: {json.dumps(person)[:300]} != {json.dumps(expected)[:300]}"
        return None
    # The hub: the same data, plus the subject's pseudonym (present, and never the NINO).
    if absent:
        # Someone no source holds: no person, and SUBJECT_NOT_FOUND (the hub releases no empty record).
        codes = {(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []}
        return None if person is None and codes == {"SUBJECT_NOT_FOUND"} else f"not SUBJECT_NOT_FOUND: {answer}"
    if not isinstance(person, dict):
        return "the hub answered no person"
    person = dict(person)
    subject = person.pop("subjectId", None)
    if not isinstance(subject, str) or not subject or _NINO.search(subject) or nino.lower() in subject.lower():
        return f"subjectId is not a pseudonym: {subject!r}"
    if _canonical(person) != _canonical(expected):
        return f"data differ: {json.dumps(person)[:300]} != {json.dumps(expected)[:300]}"
    return None


async def _check_answers(target: Target, expected: Mapping[str, Any], absent: str) -> tuple[list[str], int]:
    """(mismatches, how many answers held GraphQL errors besides the hub's expected SUBJECT_NOT_FOUND)."""
    problems, with_errors = [], 0
    async with aiohttp.ClientSession() as session:
        for i, (nino, person) in enumerate(expected.items()):
            body = target.body.replace("{nino}", nino)
            async with session.post(target.url, data=body, headers=target.headers) as r:
                try:
                    answer = await r.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    answer = {"errors": [f"status {r.status}, not JSON"]}
            if r.status != 200:
                problems.append(f"{target.name} subject #{i}: HTTP {r.status}")
                continue
            if answer.get("errors") and not (nino == absent and not target.gateway):
                with_errors += 1
            why = _mismatch(target, nino, answer, person, nino == absent)
            if why is not None:
                problems.append(f"{target.name} subject #{i}: {why}")
    return problems, with_errors


# -- load: wrk ------------------------------------------------------------------------------------------


_LUA = """
-- Generated by bench/peers/run.py: a random subject per request from the same list for every target;
-- a non-2xx answer, or a 2xx whose body holds a GraphQL "errors" member, counts as an error.
local bodies = %(bodies)s
local headers = %(headers)s
local path = %(path)s
errors = 0
non2xx = 0
first_error = ""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
end

function request()
  return wrk.format("POST", path, headers, bodies[math.random(#bodies)])
end

function response(status, _, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then first_error = status .. " " .. body:sub(1, 400) end
  elseif body:find('"errors"', 1, true) then
    errors = errors + 1
    if first_error == "" then first_error = body:sub(1, 400) end
  end
end

function done(summary, latency, _)
  local e, n, first = 0, 0, ""
  for _, t in ipairs(threads) do
    e = e + t:get("errors")
    n = n + t:get("non2xx")
    if first == "" then first = t:get("first_error") end
  end
  local s = summary.errors
  io.write(string.format(
    "PEERS requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d graphql_errors=%%d non2xx=%%d socket=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e, n,
    s.connect + s.read + s.write + s.timeout))
  io.write("PEERS_FIRST_ERROR " .. first:gsub("\\n", " ") .. "\\n")
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def _write_lua(target: Target, ninos: Sequence[str], folder: Path) -> Path:
    bodies = "{" + ",".join(_lua_string(target.body.replace("{nino}", n)) for n in ninos) + "}"
    headers = "{" + ",".join(f"[{_lua_string(k)}]={_lua_string(v)}" for k, v in target.headers.items()) + "}"
    path = "/" + target.url.split("/", 3)[3] if target.url.count("/") >= 3 else "/"
    script = folder / f"{target.name}.lua"
    script.write_text(_LUA % {"bodies": bodies, "headers": headers, "path": _lua_string(path)})
    return script


async def _wrk(target: Target, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), target.url]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = out.decode()
    line = next((x for x in text.splitlines() if x.startswith("PEERS ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {text[-1000:]}")
    values = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    first = next((x for x in text.splitlines() if x.startswith("PEERS_FIRST_ERROR")), "")[18:]
    return {
        "requests": values["requests"],
        "rps": values["requests"] / (values["duration_us"] / 1e6),
        "p50_ms": values["p50_us"] / 1000,
        "p99_ms": values["p99_us"] / 1000,
        "errors": values["graphql_errors"] + values["non2xx"] + values["socket"],
        "non2xx": values["non2xx"],
        "graphql_errors": values["graphql_errors"],
        "socket_errors": values["socket"],
        "first_error": first,
    }


# -- the bench ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Stand:
    settings: Settings
    token: str
    subgraphs: dict[str, Any]  # source -> SubgraphProcess
    hub_env: dict[str, str]
    supergraph: Path
    signer_config: Path
    entry_url: str
    entry_pid: int
    folder: Path
    counters: Counters


@contextlib.asynccontextmanager
async def _target(name: str, stand: Stand) -> AsyncIterator[Target]:
    """One target, started on the running subgraphs; stopped on leaving."""
    if name in ("hub", "hub-notrace"):
        env = dict(stand.hub_env)
        if name == "hub-notrace":
            env["OTEL_SDK_DISABLED"] = "true"
        body = json.dumps({"query": HUB_QUERY, "variables": {"nino": "NINO"}}).replace('"NINO"', '"{nino}"')
        headers = {"content-type": "application/json", "authorization": f"Bearer {stand.token}"}
        async with hub_server(env) as (url, pid):
            yield Target(name, url, pid, body, headers, gateway=False)
        return
    port = free_port()
    env = {"PEERS_SIGNER": str(stand.signer_config)}
    if name == "apollo":
        argv = ["apollo.mjs", str(stand.supergraph), str(port)]
        url = f"http://127.0.0.1:{port}/"
    else:
        argv = [
            str(NODE_MODULES / "@graphql-hive" / "gateway" / "dist" / "bin.js"),
            "supergraph",
            str(stand.supergraph),
            "--config-path",
            str(HERE / "hive.config.mjs"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--fork",
            "1",
            "--disable-websockets",
        ] + (["--hive-router-runtime"] if name == "hive-rust" else [])
        env["NODE_ENV"] = "production"
        url = f"http://127.0.0.1:{port}/graphql"
    body = json.dumps({"query": GATEWAY_QUERY, "variables": {"nino": "NINO"}}).replace('"NINO"', '"{nino}"')
    async with _node(name, argv, env, url, stand.folder) as pid:
        yield Target(name, url, pid, body, {"content-type": "application/json"}, gateway=True)


async def _entry_count(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url.replace("/graphql", "/count")) as r:
        return int((await r.json())["answered"])


async def _one_run(
    stand: Stand,
    target: Target,
    concurrency: int,
    args: argparse.Namespace,
    expected: Mapping[str, Any],
    absent: str,
) -> dict[str, Any]:
    sub_pids = {s: p.process.pid for s, p in stand.subgraphs.items()}

    async def snapshot() -> dict[str, Any]:
        return {
            "target": _tree_cpu(target.pid),
            "subgraphs": {s: _tree_cpu(p) for s, p in sub_pids.items()},
            "entry": cpu_seconds(stand.entry_pid),
            "counts": await stand.counters.read(),
            "entry_answered": await _entry_count(stand.entry_url),
        }

    problems, errored = await _check_answers(target, expected, absent)
    await _wrk(target, target.script, concurrency, args.warmup)
    await asyncio.sleep(DRAIN_SECONDS)  # the warm-up's last requests finish outside the window
    before = await snapshot()
    result = await _wrk(target, target.script, concurrency, args.duration)
    await asyncio.sleep(DRAIN_SECONDS)  # and the measured run's last ones inside it
    after = await snapshot()
    after_problems, after_errored = await _check_answers(target, expected, absent)
    problems, errored = problems + after_problems, errored + after_errored
    counts = {k: after["counts"][k] - before["counts"][k] for k in after["counts"]}
    entry_answered = after["entry_answered"] - before["entry_answered"]
    # The requests started in the window: wrk's closed loop leaves exactly `concurrency` of them in flight
    # when it stops, uncounted by it, and their work is in the window (the drain). (A gateway's entry
    # requests count the same thing, as a check; the hub's audit records, those it released or refused.)
    n = result["requests"] + concurrency
    per = {s: 1000 * (after["subgraphs"][s] - before["subgraphs"][s]) / n for s in sub_pids}
    upstream = {s: counts[s] / n for s in SOURCES} | {"entry": entry_answered / n}
    return {
        "target": target.name,
        "concurrency": concurrency,
        **result,
        "started": n,
        "entry_requests": entry_answered,
        "target_cpu_ms": 1000 * (after["target"] - before["target"]) / n,
        "subgraphs_cpu_ms": sum(per.values()),
        "subgraph_cpu_ms": per,
        "entry_cpu_ms": 1000 * (after["entry"] - before["entry"]) / n,
        "upstream_per_request": sum(upstream.values()),
        "upstream": upstream,
        "hub_audit_records": counts["audit"],
        "hub_audit_decisions": await stand.counters.decisions(
            before["counts"]["audit_seq"], after["counts"]["audit_seq"]
        ),
        "answers_ok": not problems,
        "answer_problems": problems[:10],
        "answers_with_errors": errored,
    }


async def _pick_subjects(settings: Settings, sample: int, load: int) -> tuple[list[str], list[str], str]:
    """(load subjects, answer-check sample incl. the absent one, a valid NINO no source holds)."""
    conns = {s: await _connect(migration_url(settings, store)) for s, store in SOURCES.items()}
    try:
        dwp = [r["nino"] for r in await conns["dwp"].fetch("SELECT nino FROM dwp.person WHERE nino IS NOT NULL")]
        hb = {r["nino"] for r in await conns["hb"].fetch("SELECT DISTINCT nino FROM hb.claim WHERE nino IS NOT NULL")}
        held = set(dwp)
        # In DWP and with a Housing Benefit claim: every source may have something (as bench/latency.py picks).
        both = sorted(n for n in held if n in hb)
        rng = random.Random(7)
        rng.shuffle(both)
        care = {
            r["nino"]
            for r in await conns["social_care"].fetch(
                "SELECT DISTINCT nino FROM social_care.client WHERE nino IS NOT NULL"
            )
        }
        absent = next(
            n
            for n in (f"JK{rng.randrange(10**6):06d}{rng.choice('ABCD')}" for _ in range(1000))
            if n not in held and n not in hb and n not in care
        )
    finally:
        for conn in conns.values():
            await conn.close()
    load_ninos = both[:load]
    # The sample: some with social care records too, some without, and the absent subject.
    with_care = [n for n in load_ninos if n in care][: sample // 2]
    rest = [n for n in load_ninos if n not in with_care][: sample - 1 - len(with_care)]
    return load_ninos, [*with_care, *rest, absent], absent


def _versions() -> dict[str, str]:
    def npm(package: str) -> str:
        try:
            return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])
        except FileNotFoundError:
            return "not installed"

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return {
        "python": platform.python_version(),
        "strawberry-graphql": importlib.metadata.version("strawberry-graphql"),
        "graphql-core": importlib.metadata.version("graphql-core"),
        "node": node.stdout.strip(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].split(" [")[0].removeprefix("wrk "),
        **{p: npm(p) for p in NPM_PACKAGES},
    }


def _median(runs: Sequence[Mapping[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _cell(runs: Sequence[Mapping[str, Any]], key: str, fmt: str) -> str:
    each = ", ".join(format(r[key], fmt) for r in runs)
    return f"{format(_median(runs, key), fmt)} ({each})"


def _table(results: Sequence[Mapping[str, Any]], targets: Sequence[str], levels: Sequence[int]) -> str:
    lines = [
        "| target | c | requests/s | p50 ms | p99 ms | target CPU ms/req | subgraphs CPU ms/req | entry CPU ms/req "
        "| upstream req/req | errors | answers |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in levels:
        for t in targets:
            runs = [r for r in results if r["target"] == t and r["concurrency"] == c]
            if not runs:
                continue
            gateway = t not in ("hub", "hub-notrace")
            answers = "ok" if all(r["answers_ok"] for r in runs) else "**FAILED**"
            errored = sum(r["answers_with_errors"] for r in runs)
            if errored:
                answers += f" ({errored} with errors)"
            lines.append(
                f"| {t} | {c} | {_cell(runs, 'rps', '.1f')} | {_cell(runs, 'p50_ms', '.1f')} | "
                f"{_cell(runs, 'p99_ms', '.1f')} | {_cell(runs, 'target_cpu_ms', '.2f')} | "
                f"{_cell(runs, 'subgraphs_cpu_ms', '.2f')} | "
                f"{_cell(runs, 'entry_cpu_ms', '.2f') if gateway else '-'} | "
                f"{_cell(runs, 'upstream_per_request', '.2f')} | {sum(int(r['errors']) for r in runs)} | {answers} |"
            )
    return "\n".join(lines)


def _ratios(results: Sequence[Mapping[str, Any]], levels: Sequence[int]) -> list[str]:
    out = []
    for c in levels:

        def med(target: str, key: str, c: int = c) -> float | None:
            runs = [r for r in results if r["target"] == target and r["concurrency"] == c]
            return _median(runs, key) if runs else None

        hub_rps, rust_rps = med("hub", "rps"), med("hive-rust", "rps")
        hub_cpu, rust_cpu, off_cpu = med("hub", "target_cpu_ms"), med("hive-rust", "target_cpu_ms"), None
        off_cpu = med("hub-notrace", "target_cpu_ms")
        parts = []
        if hub_rps and rust_rps and hub_cpu and rust_cpu:
            parts.append(
                f"hub / Hive-rust requests/s {hub_rps / rust_rps:.2f}x, target CPU/request {hub_cpu / rust_cpu:.2f}x"
            )
            hub_all = hub_cpu + (med("hub", "subgraphs_cpu_ms") or 0)
            rust_all = rust_cpu + (med("hive-rust", "subgraphs_cpu_ms") or 0) + (med("hive-rust", "entry_cpu_ms") or 0)
            parts.append(f"whole-system CPU/request (target + subgraphs + entry) {hub_all / rust_all:.2f}x")
        if hub_cpu and off_cpu:
            parts.append(f"hub tracing on / off target CPU/request {hub_cpu / off_cpu:.2f}x")
        if parts:
            out.append(f"- c{c}: " + "; ".join(parts) + ".")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=15, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up before each measured run")
    parser.add_argument(
        "--first-warmup", type=float, default=30, help="seconds of warm-up of each target when it is started"
    )
    parser.add_argument("--runs", type=int, default=2, help="measured runs per (target, concurrency)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--subjects", type=int, default=500, help="subjects the load picks from")
    parser.add_argument("--sample", type=int, default=20, help="subjects whose answers are checked")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    if not (NODE_MODULES / "@apollo" / "gateway").exists() or shutil.which("wrk") is None:
        sys.exit("bench/peers/setup first: the gateways (npm ci in bench/peers) and wrk are needed")
    # Ctrl-C and SIGTERM both unwind through the context managers: every process stopped, the stores dropped.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

    command = this_command("bench.peers.run")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    settings, issuer = await seeded_stores(args.database_url, args.people)
    print(f"stores {settings.db_prefix}*, folder {settings.data_dir}", flush=True)
    try:
        results, info = await _bench(settings, issuer, args)
    finally:
        await drop_stores(settings)
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    _report(command, started, args, results, info)


async def _bench(
    settings: Settings, issuer: Path, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    folder = settings.data_dir
    token = await bench_caller(settings, issuer, council=None)  # national: subjects from every council
    keys = ensure_keys(folder)
    load_ninos, sample, absent = await _pick_subjects(settings, args.sample, args.subjects)
    from bench.latency import _three_free_ports

    with running_subgraphs(settings, jwks=keys.assertion_jwks, first_port=_three_free_ports(), folder=folder) as subs:
        urls = {s: f"{p.url}/graphql" for s, p in subs.items()}
        env = {
            **hub_env(settings),
            **{f"WELFARE_HUB_SUBGRAPH_{n.upper()}_URL": sub.url for n, sub in subs.items()},
            "WELFARE_HUB_ASSERTION_KEY": str(keys.assertion),
            # Above any concurrency here: the per-user in-flight cap would otherwise answer 429 (cheap, and
            # so too-good CPU per request); the errors column would show them.
            "WELFARE_HUB_USER_IN_FLIGHT": "1024",
        }
        # The hub asks once, so that the gateways can assert exactly what it asserted.
        body = json.dumps({"query": HUB_QUERY, "variables": {"nino": load_ninos[0]}})
        async with hub_server(env) as (url, _), aiohttp.ClientSession() as session:
            headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
            async with session.post(url, data=body, headers=headers) as r:
                first = await r.json()
            if r.status != 200 or first.get("errors"):
                raise RuntimeError(f"the hub did not answer the care-charging query: {json.dumps(first)[:500]}")
        claims = await _hub_claims(settings)
        signer = Signer(keys.assertion, settings.assertion_issuer, claims)
        expected = await _expected(signer, urls, sample)

        entry_port = free_port()
        entry_url = f"http://127.0.0.1:{entry_port}/graphql"
        entry_sdl = folder / "entry.graphql"
        entry_sdl.write_text(
            subprocess.run(
                ["node", "entry.mjs", "--print-sdl"], cwd=HERE, capture_output=True, text=True, check=True
            ).stdout
        )
        composed = subprocess.run(
            ["node", "compose.mjs", f"entry={entry_sdl}={entry_url}"]
            + [f"{s}={ROOT / 'subgraphs' / f'{s}.graphql'}={urls[s]}" for s in SOURCES],
            cwd=HERE,
            capture_output=True,
            text=True,
        )
        if composed.returncode != 0:
            raise RuntimeError(f"composition failed: {composed.stderr}")
        supergraph = folder / "supergraph.graphql"
        supergraph.write_text(composed.stdout)
        signer_config = folder / "signer.json"
        fd = os.open(signer_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(signer.node_config(urls), out)

        results: list[dict[str, Any]] = []
        async with contextlib.AsyncExitStack() as stack:
            entry_pid = await stack.enter_async_context(
                _node("entry", ["entry.mjs", str(entry_port)], {}, entry_url, folder)
            )
            counters = await stack.enter_async_context(Counters.open(settings))
            stand = Stand(settings, token, subs, env, supergraph, signer_config, entry_url, entry_pid, folder, counters)
            # Every target started once, one at a time, and warmed up at length before any run: a gateway's
            # JIT needs many requests before its CPU per request settles (about half after 30 s than after
            # 5 s here), and a long-running gateway in service is warm. Idle, they wait their turn.
            targets: dict[str, Target] = {}
            for name in args.targets:
                target = await stack.enter_async_context(_target(name, stand))
                target.script = _write_lua(target, load_ninos, folder)
                await _wrk(target, target.script, max(args.concurrency), args.first_warmup)
                targets[name] = target
                print(f"{name} started and warmed up ({args.first_warmup:g} s)", flush=True)
            # Round-robin: every target once per round and concurrency, so that drift hits them alike (the
            # order reversed every other round, so that no target always runs first after a change of load).
            for round_ in range(args.runs):
                for c in args.concurrency:
                    for name in args.targets if round_ % 2 == 0 else args.targets[::-1]:
                        result = await _one_run(stand, targets[name], c, args, expected, absent)
                        result["round"] = round_ + 1
                        results.append(result)
                        print(
                            f"round {round_ + 1} c{c} {name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
                            f"p99 {result['p99_ms']:.1f} ms, CPU {result['target_cpu_ms']:.2f} ms/req "
                            f"(+{result['subgraphs_cpu_ms']:.2f} subgraphs, +{result['entry_cpu_ms']:.2f} entry), "
                            f"upstream {result['upstream_per_request']:.2f}, errors {int(result['errors'])}, "
                            f"answers {'ok' if result['answers_ok'] else 'FAILED: ' + '; '.join(result['answer_problems'][:3])}",
                            flush=True,
                        )
    info = {
        "versions": _versions(),
        "nproc": os.cpu_count(),
        "claims": {k: v for k, v in claims.items() if k != "fields"} | {"fields": claims["fields"]},
        "load_subjects": len(load_ninos),
        "sample": len(sample),
    }
    return results, info


def _quoted(text: str) -> str:
    return text.replace("`", "'")


def _report(
    command: str, started: str, args: argparse.Namespace, results: list[dict[str, Any]], info: dict[str, Any]
) -> None:
    versions = info["versions"]
    failed = [r for r in results if not r["answers_ok"]]
    paragraphs = [
        f"Started {started}. Machine: {info['nproc']} cores (shared with other work: absolute figures drift; "
        "compare within this run). Each target is bound by the subgraphs' CPU as much as its own.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"{args.people} synthetic people; the load picks one of {info['load_subjects']} subjects (in DWP and Housing "
        f"Benefit) at random per request; wrk -t1, closed loop, {args.warmup:g} s warm-up then {args.duration:g} s "
        f"measured, {args.runs} runs per (target, concurrency), targets interleaved round-robin (the order reversed "
        f"every other round). Each target was started once, one at a time, on the same three subgraph processes "
        f"and warmed up for {args.first_warmup:g} s at c{max(args.concurrency)} (a gateway's JIT needs it), then "
        "kept running, idle between its runs.",
        f"Answers: before and after every run, {info['sample']} subjects (one held by no source) asked of the "
        "target and compared with the subgraphs answered directly (the hub's subjectId checked as a pseudonym, "
        "never the NINO). "
        + ("Every run's answers matched." if not failed else f"**{len(failed)} run(s) failed the answer check.**"),
        "Cells: median of the runs, then each run in round order. Per request means per request started in "
        "the window: wrk's completed requests plus the c it leaves in flight when it stops (their work is in the "
        "window: it ends 1 s after wrk). target CPU: the target's own process tree "
        "(/proc utime+stime); subgraphs CPU: the three source subgraphs together; entry CPU: the gateways' "
        "bench-only entry subgraph; upstream: subgraph access-log rows plus entry requests, per request; errors: "
        "non-2xx, GraphQL errors and socket errors, summed over runs.",
        "The gateways sign each subgraph call with the hub's assertion key and the claims the hub sent "
        f"(purpose {info['claims']['purpose']}, legal basis {info['claims']['legal_basis']}, org "
        f"{info['claims']['org']}, the same field coordinates), so the subgraphs verify, guard and log the same.",
    ]
    for name in args.targets:
        seen = [r for r in results if r["target"] == name and r["errors"]]
        if seen:
            kinds = sum(r["non2xx"] for r in seen), sum(r["graphql_errors"] for r in seen)
            paragraphs.append(
                f"Errors, {name}: {int(sum(r['errors'] for r in seen))} in {len(seen)} run(s) ({int(kinds[0])} non-2xx, "
                f"{int(kinds[1])} GraphQL errors); the first: `{_quoted(seen[0]['first_error'][:300])}`"
            )
    table = _table(results, args.targets, args.concurrency)
    ratios = _ratios(results, args.concurrency)
    if ratios:
        table += "\n\nRatios (medians):\n\n" + "\n".join(ratios)
    print(table)
    write_result(
        "peers",
        "Peer benchmark: the hub beside Apollo and Hive Gateway",
        command,
        paragraphs,
        table,
        {"info": info, "runs": results},
    )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: every process it started is stopped and its stores are dropped")
