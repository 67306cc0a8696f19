"""The sources' reference subgraphs as separate processes beside a hub: how the demo (and anyone trying the
federation on one machine) stands up the three source organisations.

Each is ``welfare-hub subgraph <source> serve`` in its own process, over its own store, given the hub's
public assertion keys and its own access-log secret; the hub is then configured with their URLs and reads
no source store itself. In production each source's owner runs its own (``subgraphs/README.md``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.migrate import migration_url
from hub.types import StoreName

__all__ = ["SubgraphProcess", "running_subgraphs"]

_STORES: Mapping[str, StoreName] = {"dwp": "src_dwp", "hb": "src_hb", "social_care": "src_social_care"}


@dataclass(frozen=True)
class SubgraphProcess:
    source: str
    url: str  # the base URL the hub is given (it posts to {url}/graphql)
    process: subprocess.Popen[bytes]
    log: Path


def _secret(path: Path) -> str:
    """The access log's subject-hash key, kept beside the demo's keys (readable by this user only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def running_subgraphs(
    settings: Settings, *, jwks: Path, first_port: int, folder: Path, start_timeout: float = 30.0
) -> Iterator[dict[str, SubgraphProcess]]:
    """The three subgraphs on ``first_port`` and the next two, each over its store; stopped on exit."""
    secret = _secret(folder / "subgraph-secret")
    started: dict[str, SubgraphProcess] = {}
    try:
        for offset, (source, store) in enumerate(_STORES.items()):
            port = first_port + offset
            if _answers("127.0.0.1", port):
                raise ConfigError([f"port {port} is taken: the {source} subgraph needs it (choose another --port)"])
            log = folder / f"subgraph-{source}.log"
            env = {
                **os.environ,
                "WELFARE_SUBGRAPH_DATABASE_URL": migration_url(settings, store),
                "WELFARE_SUBGRAPH_HUB_JWKS": str(jwks),
                "WELFARE_SUBGRAPH_HUB_ISSUER": settings.assertion_issuer,
                "WELFARE_SUBGRAPH_SECRET": secret,
            }
            spelled = source.replace("_", "-")
            with log.open("ab") as out:
                process = subprocess.Popen(  # noqa: S603 (our own command, our own arguments)
                    [
                        sys.executable,
                        "-m",
                        "hub",
                        "subgraph",
                        spelled,
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[source] = SubgraphProcess(source, f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + start_timeout
        for name, sub in started.items():
            port = int(sub.url.rsplit(":", 1)[1])
            while not _answers("127.0.0.1", port):
                if sub.process.poll() is not None or time.monotonic() > deadline:
                    raise ConfigError([f"the {name} subgraph did not start: see {sub.log}"])
                time.sleep(0.1)
        yield started
    finally:
        for sub in started.values():
            sub.process.terminate()
        for sub in started.values():
            try:
                sub.process.wait(10)
            except subprocess.TimeoutExpired:
                sub.process.kill()
