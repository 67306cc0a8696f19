"""A subgraph's configuration, from its environment, parsed by one pure function that lists every problem.

| variable | meaning |
|---|---|
| ``WELFARE_SUBGRAPH_DATABASE_URL`` | its own store (the source's database, as a role that may write its access log) |
| ``WELFARE_SUBGRAPH_HUB_JWKS`` | the hub's public keys: a JWKS file path, or a URL (https, or http on loopback) |
| ``WELFARE_SUBGRAPH_HUB_ISSUER`` | the hub's issuer (the assertions' ``iss``) |
| ``WELFARE_SUBGRAPH_SECRET`` | key of the access log's subject hashes (32+ characters; never a clear NINO) |
| ``WELFARE_SUBGRAPH_TIMEOUT`` | seconds a read of the store may take (default 2) |
| ``WELFARE_SUBGRAPH_BODY_TIMEOUT`` | seconds a request's body may take to arrive, all of it (default 5; else 408) |
| ``WELFARE_SUBGRAPH_MAX_CONNECTIONS`` | connections served at once (default 200; more are answered 503 at once) |
| ``WELFARE_SUBGRAPH_POLICY`` | a policy file other than the shipped ``subgraphs/policy/<source>.toml`` |
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hub.errors import ConfigError
from resolvers.sources.contract import ENTITIES

__all__ = ["SOURCES", "SubgraphConfig", "source_name"]

#: The sources a subgraph can serve, by their names on the command line.
SOURCES = {"dwp": "dwp", "hb": "hb", "social-care": "social_care", "social_care": "social_care"}
_MIN_SECRET = 32


def source_name(spelled: str) -> str:
    try:
        return SOURCES[spelled]
    except KeyError:
        raise ConfigError([f"unknown source {spelled!r}: one of dwp, hb, social-care"]) from None


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class SubgraphConfig:
    source: str  # "dwp", "hb" or "social_care"
    database_url: str
    secret: bytes
    hub_issuer: str | None = None
    jwks_path: Path | None = None
    jwks_url: str | None = None
    timeout: float = 2.0
    #: The whole body of a request, before the assertion is checked: a client that drips it is cut off.
    body_timeout: float = 5.0
    #: Connections (and requests) served at once; beyond it uvicorn answers 503 rather than queue.
    max_connections: int = 200
    #: Seconds an idle keep-alive connection is held open.
    keep_alive_timeout: float = 5.0
    policy_path: Path | None = None

    @property
    def schema_name(self) -> str:
        """The PostgreSQL schema of the source's tables (and of its access log)."""
        return self.source

    @classmethod
    def from_environ(cls, env: Mapping[str, str], *, source: str, serving: bool = True) -> SubgraphConfig:
        """The configuration of ``source``'s subgraph; ``serving`` also needs the hub's keys and issuer
        (``migrate`` and ``access-log`` need only the store and the secret)."""
        problems: list[str] = []
        if source not in ENTITIES:
            problems.append(f"unknown source {source!r}")
        url = env.get("WELFARE_SUBGRAPH_DATABASE_URL", "").strip()
        if not url:
            problems.append("WELFARE_SUBGRAPH_DATABASE_URL: set it to the subgraph's own store (postgresql://...)")
        elif urlsplit(url).scheme not in {"postgres", "postgresql"}:
            problems.append("WELFARE_SUBGRAPH_DATABASE_URL: a postgresql:// URL")
        secret = env.get("WELFARE_SUBGRAPH_SECRET", "")
        if len(secret) < _MIN_SECRET:
            problems.append(
                f"WELFARE_SUBGRAPH_SECRET: at least {_MIN_SECRET} characters (the key of the access log's "
                "subject hashes; e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        issuer = env.get("WELFARE_SUBGRAPH_HUB_ISSUER", "").strip() or None
        jwks = env.get("WELFARE_SUBGRAPH_HUB_JWKS", "").strip()
        jwks_path: Path | None = None
        jwks_url: str | None = None
        if jwks.startswith(("http://", "https://")):
            parts = urlsplit(jwks)
            if parts.scheme == "http" and not _loopback(parts.hostname):
                problems.append("WELFARE_SUBGRAPH_HUB_JWKS: an http URL only on loopback; use https")
            jwks_url = jwks
        elif jwks:
            jwks_path = Path(jwks)
            if serving and not jwks_path.is_file():
                problems.append(f"WELFARE_SUBGRAPH_HUB_JWKS: no file {jwks_path}")
        if serving:
            if not jwks:
                problems.append(
                    "WELFARE_SUBGRAPH_HUB_JWKS: the hub's public keys (a file, or {hub}/.well-known/jwks.json)"
                )
            if issuer is None:
                problems.append("WELFARE_SUBGRAPH_HUB_ISSUER: the hub's issuer (the assertions' iss)")
        timeout = 2.0
        raw_timeout = env.get("WELFARE_SUBGRAPH_TIMEOUT", "").strip()
        if raw_timeout:
            try:
                timeout = float(raw_timeout)
                if not 0 < timeout <= 60:
                    raise ValueError
            except ValueError:
                problems.append("WELFARE_SUBGRAPH_TIMEOUT: seconds, more than 0 and at most 60")
        body_timeout = _number(env, "WELFARE_SUBGRAPH_BODY_TIMEOUT", 5.0, 60, problems)
        max_connections = int(_number(env, "WELFARE_SUBGRAPH_MAX_CONNECTIONS", 200, 100_000, problems, whole=True))
        policy = env.get("WELFARE_SUBGRAPH_POLICY", "").strip()
        policy_path = Path(policy) if policy else None
        if policy_path is not None and not policy_path.is_file():
            problems.append(f"WELFARE_SUBGRAPH_POLICY: no file {policy_path}")
        if problems:
            raise ConfigError(problems)
        return cls(
            source=source,
            database_url=url,
            secret=secret.encode(),
            hub_issuer=issuer,
            jwks_path=jwks_path,
            jwks_url=jwks_url,
            timeout=timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            policy_path=policy_path,
        )


def _number(
    env: Mapping[str, str], name: str, default: float, most: float, problems: list[str], *, whole: bool = False
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
        if not 0 < value <= most:
            raise ValueError
    except ValueError:
        what = "a whole number" if whole else "seconds"
        problems.append(f"{name}: {what}, more than 0 and at most {most:g}")
        return default
    return value
