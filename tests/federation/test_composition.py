"""The published contracts compose: Apollo's own composer (``@apollo/composition``, run on Node.js) builds
one supergraph from the three sources' subgraph SDLs, as an Apollo router would, and the hub's picture of
each contract (``resolvers.sources.contract.CONTRACT_FIELDS``) is the SDL's, field for field.

The composer is a test tool (``package.json``; ``npm ci`` installs it); the hub never runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldDefinitionNode, ObjectTypeDefinitionNode, parse
from graphql.language import NamedTypeNode

from resolvers.sources.contract import CONTRACT_FIELDS, ENTITIES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = Path(__file__).with_name("compose.mjs")
CONTRACTS = {name: ROOT / "subgraphs" / f"{name}.graphql" for name in ENTITIES}


def compose(sdls: dict[str, Path]) -> tuple[int, dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "the composition test needs Node.js (apt-get install nodejs npm)"
    assert (ROOT / "node_modules" / "@apollo" / "composition").is_dir(), "run `npm ci` first (the test's tools)"
    proc = subprocess.run(
        [node, str(COMPOSE), *(f"{name}={path}" for name, path in sdls.items())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_the_three_contracts_compose_into_one_supergraph() -> None:
    code, out = compose(CONTRACTS)
    assert code == 0, out.get("errors")
    assert out["ok"]
    supergraph = out["supergraphSdl"]
    for graph in ("DWP", "HB", "SOCIAL_CARE"):
        assert f"{graph} @join__graph(" in supergraph
    for source, entity in ENTITIES.items():
        graph = source.upper()
        for key in ("nino", "recordId"):
            assert f'@join__type(graph: {graph}, key: "{key}")' in supergraph, (entity, key)


def test_a_contract_that_contradicts_another_does_not_compose(tmp_path: Path) -> None:
    # The composer is real: a fourth subgraph giving DWP's name field another type is refused.
    rogue = tmp_path / "rogue.graphql"
    rogue.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])\n'
        'type DwpPerson @key(fields: "recordId") { recordId: ID! name: Int }\n'
        "type Query { rogue: Int }\n"
    )
    code, out = compose({**CONTRACTS, "rogue": rogue})
    assert code == 1
    assert not out["ok"]
    assert {e["code"] for e in out["errors"]} & {"FIELD_TYPE_MISMATCH", "INVALID_FIELD_SHARING"}


@pytest.mark.parametrize("source", sorted(ENTITIES))
def test_the_hub_reads_each_contract_as_published(source: str) -> None:
    document = parse(CONTRACTS[source].read_text())
    published: dict[str, dict[str, str | None]] = {}
    objects = {d.name.value: d for d in document.definitions if isinstance(d, ObjectTypeDefinitionNode)}

    def field_type(f: FieldDefinitionNode) -> str | None:
        named = f.type
        while not isinstance(named, NamedTypeNode):
            named = named.type  # type: ignore[attr-defined]
        return named.name.value if named.name.value in objects else None

    for name, node in objects.items():
        published[name] = {f.name.value: field_type(f) for f in node.fields or ()}
    reached: set[str] = set()
    pending = [ENTITIES[source]]
    while pending:
        type_name = pending.pop()
        if type_name in reached:
            continue
        reached.add(type_name)
        assert published.get(type_name) == dict(CONTRACT_FIELDS[type_name]), type_name
        pending += [t for t in CONTRACT_FIELDS[type_name].values() if t is not None]
