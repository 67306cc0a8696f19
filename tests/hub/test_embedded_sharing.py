"""One embedded PostgreSQL, several processes: the demo (or `serve`) keeps its database while operator
commands come and go beside it; a command stops only a server it started; two commands starting at once
share one server; a crash leaves nothing that is mistaken for a live user.

Every process here is a real one (subprocesses of `python -m hub`, or a small holder script that keeps a
server as the demo does), and every check of the server is a real connection to it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from hub.ops import embedded
from tests.conftest import free_port

pytestmark = pytest.mark.embedded

# Keeps a server as the demo does: start, say the DSN, wait for a line on stdin, let go, say whether it stopped.
_HOLDER = (
    "import sys; from pathlib import Path; from hub.ops.embedded import start_embedded\n"
    "pg = start_embedded(Path(sys.argv[1]))\n"
    "print(pg.dsn, pg.started, flush=True)\n"
    "sys.stdin.readline()\n"
    "print('stopped' if pg.stop() else 'left running', flush=True)\n"
)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    env["WELFARE_HUB_DATA_DIR"] = str(data_dir)
    return env


def _hub(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _postmaster_pid(pg_dir: Path) -> int | None:
    running = embedded._postmaster(pg_dir)
    return running.pid if running is not None else None


def _answers(dsn: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    return asyncio.run(probe())


class Holder:
    def __init__(self, pg_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(pg_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line, self.proc.stderr.read() if self.proc.stderr else ""
        self.dsn, self.started = line[0], line[1] == "True"

    def release(self) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        said = self.proc.stdout.readline().strip()
        self.proc.wait(30)
        return said

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory of our own: pytest resets its shared base directory to 0700 when another run starts,
    which would lock the server's account (PostgreSQL refuses root) out of a cluster under it."""
    path = Path(tempfile.mkdtemp(prefix="wh-embedded-"))
    try:
        yield path
    finally:
        for pg_dir in path.glob("*/pg"):  # no server outlives its test, whatever the test left running
            embedded._stop(pg_dir, embedded._bin_dir())
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def holder_of() -> Iterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for h in made:
        h.close()


def test_a_command_beside_the_serving_hub_leaves_its_database_running(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "demo", free_port()
    migrated = _hub(data_dir, "migrate")  # serve expects migrated stores
    assert migrated.returncode == 0, migrated.stderr
    env = _env(data_dir) | {"WELFARE_HUB_PORT": str(port)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        ready = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            time.sleep(0.2)
        assert httpx.get(ready, timeout=5).status_code == 200
        before = _postmaster_pid(data_dir / "pg")
        assert before is not None

        for command in (["audit", "verify"], ["migrate"]):
            done = _hub(data_dir, *command)
            assert done.returncode == 0, done.stderr
            # The command left the server it found as it found it: same postmaster, every store answering.
            assert _postmaster_pid(data_dir / "pg") == before
            answer = httpx.get(ready, timeout=5)
            assert answer.status_code == 200, answer.text
            assert all(answer.json()["stores"].values())
    finally:
        serve.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl-C: tests/hub/test_demo.py)
        code = serve.wait(60)
        if serve.stderr is not None:
            serve.stderr.close()
    assert code == 0
    # serve started the server, and nobody else uses it now: it stopped it on the way out (on SIGTERM too).
    assert _postmaster_pid(data_dir / "pg") is None


def test_a_command_stops_the_server_it_started(tmp_path: Path, holder_of: list[Holder]) -> None:
    data_dir = tmp_path / "cli"
    done = _hub(data_dir, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert _postmaster_pid(data_dir / "pg") is None
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    assert list((data_dir / "pg.leases").iterdir()) == []


def test_the_process_that_did_not_start_the_server_never_stops_it(tmp_path: Path, holder_of: list[Holder]) -> None:
    pg_dir = tmp_path / "cli" / "pg"
    first = Holder(pg_dir)
    holder_of.append(first)
    second = Holder(pg_dir)
    holder_of.append(second)
    assert (first.started, second.started) == (True, False)
    assert first.dsn == second.dsn
    assert second.release() == "left running"
    assert _answers(first.dsn)
    # The starter, now alone, stops it.
    assert first.release() == "stopped"
    assert not _answers(first.dsn)


def test_two_commands_at_once_share_one_server_and_leave_none(tmp_path: Path, holder_of: list[Holder]) -> None:
    data_dir = tmp_path / "cli"
    # Migrated once first: two first-ever migrations at once race in the migrations themselves (not here).
    migrated = _hub(data_dir, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert _postmaster_pid(data_dir / "pg") is None
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hub", "audit", "verify"],
            env=_env(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert _postmaster_pid(data_dir / "pg") is None

    # And beside a holder: two commands at once, and the holder's server is still there afterwards.
    holder = Holder(data_dir / "pg")
    holder_of.append(holder)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hub", *command],
            env=_env(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in (["audit", "verify"], ["migrate"])
    ]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert _answers(holder.dsn)
    assert holder.release() == "stopped"


def test_a_crashed_starter_and_a_stale_pid_file_are_not_mistaken_for_live_users(
    tmp_path: Path, holder_of: list[Holder]
) -> None:
    data_dir = tmp_path / "cli"
    pg_dir = data_dir / "pg"
    crashed = Holder(pg_dir)
    holder_of.append(crashed)
    crashed.proc.kill()  # SIGKILL: no chance to let go; the postmaster (a daemon) keeps running
    crashed.proc.wait(30)
    orphan = _postmaster_pid(pg_dir)
    assert orphan is not None
    assert len(list((data_dir / "pg.leases").iterdir())) == 1  # its lease file is still there, unlocked

    # A command finds the orphan, uses it, and, its starter being gone and nobody else using it, stops it.
    done = _hub(data_dir, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert _postmaster_pid(pg_dir) is None
    assert list((data_dir / "pg.leases").iterdir()) == []  # the stale lease was recognised and removed

    # A postmaster.pid left behind by a server that died (its pid is not a live postmaster) is no obstacle.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (pg_dir / "postmaster.pid").write_text(
        f"{dead.stdout.strip()}\n{pg_dir}\n1700000000\n5999\n\n127.0.0.1\n0 0\nready\n"
    )
    done = _hub(data_dir, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert _postmaster_pid(pg_dir) is None


def test_a_server_no_welfare_hub_process_started_is_never_stopped(tmp_path: Path, holder_of: list[Holder]) -> None:
    data_dir = tmp_path / "cli"
    pg_dir = data_dir / "pg"
    started = Holder(pg_dir)
    holder_of.append(started)
    started.proc.kill()
    started.proc.wait(30)
    # As if an operator had started it with pg_ctl: no record says a welfare-hub process started it.
    (data_dir / "pg.owner.json").unlink()
    before = _postmaster_pid(pg_dir)
    done = _hub(data_dir, "migrate")
    assert done.returncode == 0, done.stderr
    assert _postmaster_pid(pg_dir) == before
    assert _answers(started.dsn)


def test_files_another_user_could_have_planted_are_refused(tmp_path: Path) -> None:
    """The lock, the leases and the owner record decide who stops the server: beside a data directory in a
    shared parent, one writable by others, or a symlink, is refused rather than trusted."""
    data_dir = tmp_path / "pg"
    leases = tmp_path / "pg.leases"
    leases.mkdir()
    leases.chmod(0o777)  # as if another user had made it first, for everyone to write in
    with pytest.raises(embedded.EmbeddedPostgresError, match="not this user's own private directory"):
        embedded._lease(data_dir)
    leases.chmod(0o700)
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "pg.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(embedded.EmbeddedPostgresError, match="lock file"), embedded._exclusive(data_dir):
        pass
