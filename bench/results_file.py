"""Every benchmark writes its figures the same way: bench/results/<stem>-<UTC stamp>.md, with the command
that produced them, the prose, the table and the raw numbers as JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def this_command(module: str) -> str:
    """How this run was started, for the reader to repeat it."""
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f"cd {shlex.quote(os.getcwd())} && {shlex.quote(python)} -m {module} {argv}".strip()


def write_result(stem: str, title: str, command: str, paragraphs: list[str], table: str, data: Any) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    parts = [f"# {title} ({stamp})", "", f"Command: `{command}`", ""]
    for paragraph in paragraphs:
        parts += [paragraph, ""]
    parts += [table, "", "```json", json.dumps(data, indent=2), "```", ""]
    out = RESULTS / f"{stem}-{stamp}.md"
    out.write_text("\n".join(parts))
    print(f"written to {out}")
    return out
