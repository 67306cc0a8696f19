"""Where the commands keep keys, tokens and the embedded PostgreSQL: ``--data-dir``, then
``WELFARE_HUB_DATA_DIR``, then a per-user directory, never the current one; and every command agrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from hub.cli.datadir import default_data_dir, resolve_data_dir

HOME = Path("/home/ada")
WELFARE_HUB = Path(sys.executable).parent / "welfare-hub"
LOCAL = r"C:\Users\ada\AppData\Local"

DEFAULTS = [
    pytest.param({}, "linux", HOME / ".local/share/welfare-hub", id="linux"),
    pytest.param({}, "freebsd14", HOME / ".local/share/welfare-hub", id="another unix"),
    pytest.param({}, "darwin", HOME / "Library/Application Support/welfare-hub", id="macos"),
    pytest.param({"XDG_DATA_HOME": "/data/ada"}, "linux", Path("/data/ada/welfare-hub"), id="xdg data home"),
    pytest.param({"XDG_DATA_HOME": "/data/ada"}, "darwin", Path("/data/ada/welfare-hub"), id="xdg on macos too"),
    pytest.param({"XDG_DATA_HOME": "data"}, "linux", HOME / ".local/share/welfare-hub", id="relative xdg ignored"),
    pytest.param({"XDG_DATA_HOME": ""}, "linux", HOME / ".local/share/welfare-hub", id="empty xdg ignored"),
    pytest.param({"LOCALAPPDATA": LOCAL}, "win32", Path(LOCAL) / "welfare-hub", id="windows"),
]


@pytest.mark.parametrize(("env", "platform", "expected"), DEFAULTS)
def test_the_per_user_default(env: dict[str, str], platform: str, expected: Path) -> None:
    assert default_data_dir(env, platform=platform, home=HOME) == expected


PRECEDENCE = [
    pytest.param("/flag", {"WELFARE_HUB_DATA_DIR": "/env"}, Path("/flag"), "--data-dir", id="flag over variable"),
    pytest.param("/flag", {}, Path("/flag"), "--data-dir", id="flag alone"),
    pytest.param(None, {"WELFARE_HUB_DATA_DIR": "/env"}, Path("/env"), "WELFARE_HUB_DATA_DIR", id="variable"),
    pytest.param("", {"WELFARE_HUB_DATA_DIR": "/env"}, Path("/env"), "WELFARE_HUB_DATA_DIR", id="empty flag"),
    pytest.param(None, {"WELFARE_HUB_DATA_DIR": ""}, Path("/default"), "default", id="empty variable"),
    pytest.param(None, {}, Path("/default"), "default", id="neither"),
]


@pytest.mark.parametrize(("flag", "env", "path", "chosen_by"), PRECEDENCE)
def test_flag_then_variable_then_default(flag: str | None, env: dict[str, str], path: Path, chosen_by: str) -> None:
    chosen = resolve_data_dir(flag, env, default=Path("/default"))
    assert (chosen.path, chosen.chosen_by) == (path, chosen_by)


# --- the command line: `keys init` and `token` need no database ------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_", "XDG_"))}
    return env | {"HOME": str(tmp_path / "home")} | extra


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(WELFARE_HUB), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def _key_ring_dir(done: subprocess.CompletedProcess[str]) -> Path:
    return Path(json.loads(done.stdout)["key_ring"]).parent.parent


def test_keys_init_lands_where_the_precedence_says(tmp_path: Path) -> None:
    work = tmp_path / "work"
    neither = _hub(work, _env(tmp_path), "keys", "init")
    assert _key_ring_dir(neither) == tmp_path / "home" / ".local" / "share" / "welfare-hub"
    assert not (work / ".welfare-hub").exists()  # never the current directory

    xdg = _hub(work, _env(tmp_path, XDG_DATA_HOME=str(tmp_path / "xdg")), "keys", "init")
    assert _key_ring_dir(xdg) == tmp_path / "xdg" / "welfare-hub"

    env = _env(tmp_path, WELFARE_HUB_DATA_DIR=str(tmp_path / "from-env"))
    assert _key_ring_dir(_hub(work, env, "keys", "init")) == tmp_path / "from-env"
    before = _hub(work, env, "--data-dir", "flag-first", "keys", "init")  # relative: to where it was run
    after = _hub(work, env, "keys", "init", "--data-dir", str(tmp_path / "flag-after"))
    assert _key_ring_dir(before) == work / "flag-first"
    assert _key_ring_dir(after) == tmp_path / "flag-after"
    assert (tmp_path / "home" / ".local" / "share" / "welfare-hub").stat().st_mode & 0o077 == 0  # keys: ours only


def test_a_token_is_signed_by_the_issuer_of_the_same_directory(tmp_path: Path) -> None:
    """`token` and the demo's hub (through `keys init`'s files) agree on the directory, so on the key."""
    env = _env(tmp_path, WELFARE_HUB_DATA_DIR=str(tmp_path / "shared"))
    paths = json.loads(_hub(tmp_path, env, "keys", "init").stdout)
    minted = _hub(tmp_path, env, "token", "--org", "internal-audit", "--org-type", "auditor", "--purpose", "AUDIT")
    jwks = json.loads(Path(paths["jwks"]).read_text())
    token = minted.stdout.strip()
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"]))
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="welfare-hub")
    assert (claims["org"], claims["org_type"], claims["purposes"]) == ("internal-audit", "auditor", ["AUDIT"])


def test_a_data_directory_left_at_the_old_default_is_pointed_out(tmp_path: Path) -> None:
    """The default was ./.welfare-hub: a command that no longer uses one it finds there says how to keep it."""
    work = tmp_path / "checkout"
    (work / ".welfare-hub" / "keys").mkdir(parents=True)
    done = _hub(work, _env(tmp_path), "keys", "init")
    assert f"{work / '.welfare-hub'} (the old default data directory) is no longer used" in done.stderr
    assert "--data-dir .welfare-hub" in done.stderr
    kept = _hub(work, _env(tmp_path), "--data-dir", ".welfare-hub", "keys", "init")
    assert kept.stderr == ""
    assert _key_ring_dir(kept) == work / ".welfare-hub"
