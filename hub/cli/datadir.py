"""Where the commands keep what they make outside production: demo keys and tokens, the linkage model, the
subgraphs' logs and the embedded PostgreSQL.

One rule for every command, so that ``welfare-hub token`` mints with the key the demo's hub trusts and a
command run beside the demo shares its database: ``--data-dir``, else ``WELFARE_HUB_DATA_DIR``, else a
per-user directory (never the current one: the demo's state would then depend on where it was started).
Pure: the environment, the platform and the home directory are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final, Literal

__all__ = ["ENV_VARIABLE", "LEGACY_DIR", "DataDir", "default_data_dir", "resolve_data_dir"]

ENV_VARIABLE: Final = "WELFARE_HUB_DATA_DIR"
#: The default before it was per-user: relative to wherever a command was started.
LEGACY_DIR = Path(".welfare-hub")
_NAME = "welfare-hub"


@dataclass(frozen=True)
class DataDir:
    path: Path
    chosen_by: Literal["--data-dir", "WELFARE_HUB_DATA_DIR", "default"]


def default_data_dir(env: Mapping[str, str], *, platform: str, home: Path) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/welfare-hub`` when that is set (the XDG spec ignores a
    relative one), else the platform's place for an application's data."""
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and PurePath(xdg).is_absolute():
        return Path(xdg) / _NAME
    if platform == "darwin":
        return home / "Library" / "Application Support" / _NAME
    if platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / _NAME
    return home / ".local" / "share" / _NAME


def resolve_data_dir(flag: str | None, env: Mapping[str, str], *, default: Path) -> DataDir:
    """``--data-dir``, then ``WELFARE_HUB_DATA_DIR``, then ``default`` (:func:`default_data_dir`); an empty
    value counts as unset, as for every other variable."""
    if flag:
        return DataDir(Path(flag), "--data-dir")
    if env.get(ENV_VARIABLE):
        return DataDir(Path(env[ENV_VARIABLE]), ENV_VARIABLE)
    return DataDir(default, "default")
