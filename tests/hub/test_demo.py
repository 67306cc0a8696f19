"""The README's demo on a fresh machine: no server configured, so an embedded PostgreSQL; the example
queries it prints must work as printed, and Ctrl-C must stop it cleanly."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


@pytest.mark.embedded
def test_demo_prints_queries_that_work(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    env["WELFARE_HUB_DATA_DIR"] = str(tmp_path / "demo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--people", "400", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Application startup complete" in line:
                break
        output = "".join(lines)
        assert "Application startup complete" in output, output
        tokens = json.loads((tmp_path / "demo" / "demo-tokens.json").read_text())
        curls = [line for line in lines if line.startswith("curl ")]
        assert len(curls) == 4  # three NINO lookups and one by demographics
        answered_sources: set[str] = set()
        for curl in curls:
            argv = shlex.split(curl)
            url = argv[2]
            body = json.loads(argv[argv.index("-d") + 1])
            env_name = argv[argv.index("-H") + 1].split("$", 1)[1]
            org = next(o for o in tokens if o.upper().replace("-", "_") + "_TOKEN" == env_name)
            r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {tokens[org]}"}, timeout=10)
            assert r.status_code == 200
            answer = r.json()
            assert "errors" not in answer, answer
            person = answer["data"]["person"]
            assert person["subjectId"].startswith("ps_")
            answered_sources |= {k for k in ("dwp", "housingBenefit", "socialCare") if person.get(k) is not None}
        assert answered_sources == {"dwp", "housingBenefit", "socialCare"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            assert proc.stdout is not None
            lines.append(proc.stdout.read())
            proc.stdout.close()
    assert code == 0, "".join(lines)
    # The embedded PostgreSQL the demo started was stopped with it.
    assert not (tmp_path / "demo" / "pg" / "postmaster.pid").exists()
