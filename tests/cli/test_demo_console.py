"""The demo's auditor: registered as the console needs it (type ``auditor``, national, purpose AUDIT), its
token minted as the other demo tokens are, and the address and token the demo prints open the console."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.config import Settings
from hub.console import ROOT
from hub.ops.demo import DEMO_AUDITOR, DEMO_ORGS, mint_demo_tokens, register_demo_orgs
from hub.ops.issuer import IssuerKey
from tests.conftest import free_port, running_client

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _assert_console(page: httpx.Response) -> None:
    """The console's own page for an auditor, not the sign-in form nor a refusal."""
    assert page.status_code == 200
    assert "<title>Audit console · welfare-hub</title>" in page.text
    assert 'id="verification"' in page.text
    assert "Verified" in page.text, page.text
    assert 'role="alert"' not in page.text  # no refusal (the log's own rows may carry any code)


async def test_the_demo_auditor_is_registered_and_its_token_opens_the_console(
    settings: Settings, issuer: IssuerKey
) -> None:
    await register_demo_orgs(settings)
    tokens = mint_demo_tokens(settings, issuer)
    assert set(tokens) == {org.org_id for org in DEMO_ORGS}
    async with running_client(settings) as client:
        signed = await client.post(f"{ROOT}/login", content=f"token={tokens[DEMO_AUDITOR.org_id]}", headers=FORM)
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == ROOT
        _assert_console(await client.get(ROOT))
        # A council team's demo token signs in too, but is refused the log: the console is the auditor's.
        await client.post(f"{ROOT}/logout")
        await client.post(f"{ROOT}/login", content=f"token={tokens['northshire-hb']}", headers=FORM)
        assert '<p class="error" role="alert"><strong>PURPOSE_NOT_GRANTED</strong>' in (await client.get(ROOT)).text


@pytest.mark.embedded
def test_the_printed_console_address_and_auditor_token_open_the_console(tmp_path: Path) -> None:
    """`welfare-hub demo --data-dir DIR` as a newcomer runs it: everything lands in DIR (not in
    WELFARE_HUB_DATA_DIR, which the flag overrides), the output names DIR, and the console opens."""
    port = free_port()
    chosen, overridden = tmp_path / "chosen", tmp_path / "overridden"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    env["WELFARE_HUB_DATA_DIR"] = str(overridden)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--people", "300", "--port", str(port), "--data-dir", str(chosen)],
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

        assert f"data directory {chosen} (" in output
        assert "the embedded PostgreSQL in pg/" in output
        assert (chosen / "pg" / "PG_VERSION").exists()
        assert (chosen / "keys" / "demo-issuer.json").exists()
        assert (chosen / "demo-tokens.json").stat().st_mode & 0o077 == 0  # live tokens: this user's only
        assert not overridden.exists()

        (address,) = re.findall(r"^Open (http://\S+) and sign in", output, re.MULTILINE)
        (token,) = re.findall(rf"^export {DEMO_AUDITOR.token_variable}=(\S+)$", output, re.MULTILINE)
        assert address == f"http://127.0.0.1:{port}{ROOT}"
        with httpx.Client(timeout=10) as client:
            signed = client.post(f"{address}/login", content=f"token={token}", headers=FORM)
            assert signed.status_code == 303, signed.text
            _assert_console(client.get(address))
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
