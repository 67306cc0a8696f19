"""A database the commands cannot reach: every command says which store, where (host:port) and the driver's
error class, how to fix it, and exits non-zero; never a traceback, never a password. Each command is a real
subprocess pointed at a closed port (and, for one store, at a database that does not exist)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-never-shown"
COMMANDS = [
    ["migrate"],
    ["seed", "--people", "10"],
    ["demo", "--people", "10"],
    ["audit", "verify"],
    ["audit", "export", "--since", "2026-01-01", "--until", "2026-02-01", "--out", "{tmp}/export.jsonl"],
    ["audit", "checkpoint"],
    ["audit", "report"],
    ["link", "train", "--sample", "10"],
    ["link", "build"],
    ["keys", "rekey"],
    ["orgs", "load", str(ROOT / "policy" / "organisations.example.toml")],
    ["orgs", "staff", "{tmp}/staff.csv"],
]


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "staff.csv").write_text("org,user,nino\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    return subprocess.run(
        [sys.executable, "-m", "hub", *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    env["WELFARE_HUB_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_a_closed_port_is_named_with_its_fix_and_no_traceback(command: list[str], tmp_path: Path) -> None:
    port = free_port()  # nothing listens on it
    env = _base_env(tmp_path) | {"DATABASE_URL": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"}
    done = _run(command, env, tmp_path)
    assert done.returncode != 0
    err = done.stderr
    assert "Traceback" not in err, err
    assert PASSWORD not in err + done.stdout
    assert "postgresql://" not in err
    (line,) = [x for x in err.splitlines() if "cannot reach" in x]
    named = " ".join(command[:2]) if command[0] in {"audit", "link", "keys", "orgs"} else command[0]
    assert line.startswith(f"welfare-hub {named}:")
    assert f"127.0.0.1:{port}" in line
    assert "ConnectionRefusedError" in line
    assert "stores hub, src_dwp, src_hb, src_social_care" in line
    assert "check that PostgreSQL is running" in line
    assert len(err.splitlines()) <= 5, err


def test_only_the_store_that_fails_is_named(tmp_path: Path, server_url: str) -> None:
    parts = urllib.parse.urlsplit(server_url)
    reachable = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    port = free_port()
    env = _base_env(tmp_path) | {
        "WELFARE_HUB_HUB_URL": f"postgresql://hub_owner:{PASSWORD}@127.0.0.1:{port}/hub",
        "WELFARE_HUB_DWP_URL": reachable,
        "WELFARE_HUB_HB_URL": urllib.parse.urlunsplit(parts._replace(path="/no_such_database_here")),
        "WELFARE_HUB_SOCIAL_CARE_URL": reachable,
    }
    done = _run(["audit", "verify"], env, tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert PASSWORD not in done.stderr
    lines = [x for x in done.stderr.splitlines() if "cannot reach" in x]
    assert any(
        f"store hub at 127.0.0.1:{port} (ConnectionRefusedError, from WELFARE_HUB_HUB_URL)" in x for x in lines
    ), done.stderr
    assert any("store src_hb at" in x and "InvalidCatalogNameError" in x and "does not exist" in x for x in lines), (
        done.stderr
    )
    assert not any("src_dwp" in x or "src_social_care" in x for x in lines), done.stderr
