"""Configuration, parsed from an environment mapping by a pure function.

Nothing else in the hub reads ``os.environ``: the CLI calls :meth:`Settings.from_environ` once and passes
the result down. Every problem found is reported at once, before anything starts.

Stores. The hub talks to four PostgreSQL databases: its own (``hub``) and the three sources. Either give
``DATABASE_URL`` (a server URL with a role that may create databases and roles: the hub then provisions
``{prefix}hub``, ``{prefix}src_dwp``, ... with a role each, and derives the service URLs), or give each
store's service URL (``WELFARE_HUB_HUB_URL``, ``WELFARE_HUB_DWP_URL``, ``WELFARE_HUB_HB_URL``,
``WELFARE_HUB_SOCIAL_CARE_URL``), as a council's managed database would. With neither, the CLI starts an
embedded PostgreSQL in the data directory.

Placeholder dates of birth. ``WELFARE_HUB_DWP_DOB_PLACEHOLDERS``, ``WELFARE_HUB_HB_DOB_PLACEHOLDERS`` and
``WELFARE_HUB_SOCIAL_CARE_DOB_PLACEHOLDERS`` name, as ISO dates separated by commas, the dates a source's
system writes for an unknown date of birth beyond those of :data:`linkage.PLACEHOLDER_DOBS` (1900-01-01 and
the like, always included): linkage reads them as missing (:meth:`Settings.placeholder_dobs`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from hub.errors import ConfigError
from hub.types import STORES, StoreName
from linkage import PLACEHOLDER_DOBS, Thresholds, parse_placeholder_dobs

__all__ = ["STORE_URL_VARIABLES", "Settings", "store_role_names"]

_STORE_ENV: dict[StoreName, str] = {
    "hub": "WELFARE_HUB_HUB_URL",
    "src_dwp": "WELFARE_HUB_DWP_URL",
    "src_hb": "WELFARE_HUB_HB_URL",
    "src_social_care": "WELFARE_HUB_SOCIAL_CARE_URL",
}
#: The variable that names each source's subgraph, when its owner serves one (the hub then never reads its store).
_SUBGRAPH_ENV: dict[str, str] = {
    "dwp": "WELFARE_HUB_SUBGRAPH_DWP_URL",
    "hb": "WELFARE_HUB_SUBGRAPH_HB_URL",
    "social_care": "WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL",
}
#: The variable that adds to each source's placeholder dates of birth (linkage.placeholders).
_PLACEHOLDER_ENV: dict[str, str] = {
    "dwp": "WELFARE_HUB_DWP_DOB_PLACEHOLDERS",
    "hb": "WELFARE_HUB_HB_DOB_PLACEHOLDERS",
    "social_care": "WELFARE_HUB_SOCIAL_CARE_DOB_PLACEHOLDERS",
}
#: The variable that names each store's URL when there is no DATABASE_URL (for messages that say what to fix).
STORE_URL_VARIABLES: Mapping[StoreName, str] = _STORE_ENV
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,30}")
_REPO_ROOT = Path(__file__).resolve().parent.parent


def store_role_names(prefix: str, store: StoreName) -> tuple[str, str]:
    """(owner role, service role) of a store: the service role of a source is read-only."""
    service = f"{prefix}hub_app" if store == "hub" else f"{prefix}{store}_reader"
    return f"{prefix}{store}_owner", service


def _with_db_and_user(url: str, database: str, user: str | None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        hostport = netloc.rsplit("@", 1)[-1]
        netloc = f"{quote(user)}@{hostport}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(database), parts.query, ""))


@dataclass(frozen=True, kw_only=True)
class Settings:
    production: bool = False
    database_url: str | None = None
    store_urls: Mapping[StoreName, str] = field(default_factory=dict)
    db_prefix: str = ""
    data_dir: Path = Path(".welfare-hub")
    issuer: str = "welfare-hub-demo-idp"
    audience: str = "welfare-hub"
    jwks_path: Path | None = None
    jwks_url: str | None = None  # the issuer's key set on the network (https, or http on loopback)
    jwks_refresh_seconds: float = 60.0  # how often at most an unknown key id makes the hub re-read it
    keys_path: Path | None = None
    audit_keys_path: Path | None = None  # the Ed25519 keys that sign audit checkpoints
    audit_checkpoint_seconds: float = 60.0  # how often the chain head is signed (when it has moved)
    # ... and after this many records, whatever the time (0: by time only): a truncation of the log's end
    # that no receipt holder reports is bounded by this many records as well as by the interval.
    audit_checkpoint_every_records: int = 1000
    audit_verify_seconds: float = 300.0  # how old the verification auditors see may be before it is redone
    audit_query_timeout: float = 10.0  # auditors' searches and reports over a long log
    trace_retention_days: int = 30  # the hub's own copy of its spans, for auditors; 0 keeps none
    dispatch_seconds: float = 0.5  # how often the outbox is polled when idle; 0 runs no dispatcher here
    interest_check_seconds: float = 300.0  # how often registered interests' answers are read again; 0: never here
    purposes_path: Path = _REPO_ROOT / "policy" / "purposes.toml"
    rate_limits_path: Path = _REPO_ROOT / "policy" / "ratelimits.toml"  # buckets per organisation type
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose X-Forwarded-For names the client
    user_in_flight: int = 32  # requests one user may have running at once on one pod (hub.http.RateLimit)
    rate_limit_timeout: float = 0.5  # a rate-limit check's wait on the shared store, then this pod's own buckets
    source_timeout: float = 2.0
    audit_timeout: float = 2.0
    #: Sources answered by their owners' subgraphs (source name -> base URL); the others are read directly.
    subgraph_urls: Mapping[str, str] = field(default_factory=dict)
    assertion_key_path: Path | None = None  # the hub's Ed25519 key that signs its purpose assertions
    assertion_issuer: str = "welfare-hub"  # the assertions' ``iss``, as the subgraphs expect it
    subgraph_breaker_failures: int = 5  # consecutive failures that open a subgraph's circuit breaker
    subgraph_breaker_seconds: float = 5.0  # how long it stays open before one probe is let through
    subgraph_max_body_bytes: int = 1 << 20  # the most of a subgraph's answer the hub reads
    unauthenticated_audit_per_second: float = 50.0  # refused tokens audited one by one, at most, a second
    org_cache_seconds: float = 30.0  # how long a change to the organisation register may take to apply
    max_depth: int = 8
    max_aliases: int = 15
    max_fields: int = 1000  # fields a document would resolve, counted through every fragment spread
    max_tokens: int = 1000
    max_list_items: int = 100  # items in any one list value a request sends
    request_loop_budget: float = 1.0  # seconds of the event loop one request may hold in all (hub.execution.budget)
    loop_slice: float = 0.02  # seconds a request may hold the loop before handing it back
    max_body_bytes: int = 65536
    link_model_path: Path | None = None
    link_threshold: float = 0.999
    review_threshold: float = 0.5
    link_absent: float = 0.02  # prior that a record's person is not among its spine candidates
    #: Per source ("dwp", "hb", "social_care"): the dates its system writes for an unknown date of birth,
    #: read as missing by linkage; a source not named has :data:`linkage.PLACEHOLDER_DOBS`.
    dob_placeholders: Mapping[str, frozenset[dt.date]] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    #: uvicorn worker processes serving the one port (``welfare-hub serve --workers``); each is a hub of its own
    #: (pools, roles, in-memory throttles) coordinating with the others in the hub database (hub.roles).
    workers: int = 1
    #: Connections each store's pool may open, per process: processes x workers x pools must fit the server's
    #: max_connections (PostgreSQL's default is 100), so scaling out lowers it.
    pool_size: int = 10
    #: Prometheus text at /metrics on a port of its own (never the API's); 0 serves none. One process's
    #: metrics: with several workers, use OTLP (OTEL_METRICS_EXPORTER) or one worker a pod.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    #: The standard OpenTelemetry variables (OTEL_*), as given: hub.audit.tracing reads what to export, and where.
    otel: Mapping[str, str] = field(default_factory=dict)

    def placeholder_dobs(self, source: str) -> frozenset[dt.date]:
        """The dates of birth that mean "not known" in ``source`` (its name: dwp, hb, social_care)."""
        return self.dob_placeholders.get(source, PLACEHOLDER_DOBS)

    def thresholds(self) -> Thresholds:
        """The linkage bands: link, review and the prior that a record's person was not found at all."""
        try:
            return Thresholds(link=self.link_threshold, review=self.review_threshold, absent=self.link_absent)
        except ValueError as e:
            raise ConfigError([f"linkage thresholds: {e}"]) from None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []

        def proxies(raw: str) -> tuple[str, ...]:
            """Comma-separated addresses or networks (10.0.0.0/8); never everyone (``*``, a /0)."""
            out = []
            for item in (p.strip() for p in raw.split(",")):
                if not item:
                    continue
                try:
                    network = ipaddress.ip_network(item, strict=False)
                except ValueError:
                    problems.append(f"WELFARE_HUB_TRUSTED_PROXIES: {item!r} is not an address or a network")
                    continue
                if network.prefixlen == 0:
                    problems.append("WELFARE_HUB_TRUSTED_PROXIES: trusting every address lets any caller name its own")
                    continue
                out.append(str(network))
            return tuple(out)

        def number(
            name: str, default: float, *, integer: bool = False, minimum: float = 0, maximum: float | None = None
        ) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                problems.append(f"{name} must be a number, got {raw!r}")
                return default
            if not math.isfinite(value):
                problems.append(f"{name} must be a finite number, got {raw!r}")
                return default
            if value < minimum:
                problems.append(f"{name} must be at least {minimum}")
                return default
            if maximum is not None and value > maximum:
                problems.append(f"{name} must be at most {maximum}")
                return default
            return value

        def text(name: str, default: str) -> str:
            raw = env.get(name)
            return default if raw is None or raw.strip() == "" else raw

        mode = env.get("WELFARE_HUB_ENV", "development").strip().lower()
        if mode not in {"development", "production"}:
            problems.append(f"WELFARE_HUB_ENV must be 'development' or 'production', got {mode!r}")
        prefix = env.get("WELFARE_HUB_DB_PREFIX", "")
        if prefix and not _PREFIX.fullmatch(prefix):
            problems.append("WELFARE_HUB_DB_PREFIX must be lower-case letters, digits and _, at most 31")
        subgraph_urls: dict[str, str] = {}
        for source, var in _SUBGRAPH_ENV.items():
            raw = (env.get(var) or "").strip()
            if not raw:
                continue
            url = urlsplit(raw)
            loopback = url.hostname in {"127.0.0.1", "::1", "localhost"}
            if url.scheme not in {"http", "https"} or not url.hostname or url.query or url.fragment:
                problems.append(f"{var} must be an http(s) base URL, got {raw!r}")
            elif url.scheme == "http" and not loopback and mode == "production":
                problems.append(f"{var}: a subgraph off this host is reached over https only in production")
            else:
                subgraph_urls[source] = raw.rstrip("/")
        dob_placeholders: dict[str, frozenset[dt.date]] = {}
        for source, var in _PLACEHOLDER_ENV.items():
            if (env.get(var) or "").strip():
                try:
                    dob_placeholders[source] = parse_placeholder_dobs(env[var])
                except ValueError as e:
                    problems.append(f"{var}: {e}")
        store_urls: dict[StoreName, str] = {}
        for store, var in _STORE_ENV.items():
            if env.get(var):
                store_urls[store] = env[var]
        # Every store the hub reads itself needs its URL: its own, and each source no subgraph answers for.
        needed = [s for s in STORES if s == "hub" or s.removeprefix("src_") not in subgraph_urls]
        if store_urls and any(s not in store_urls for s in needed):
            missing = [_STORE_ENV[s] for s in needed if s not in store_urls]
            problems.append("per-store URLs must be given for every store the hub reads; missing " + ", ".join(missing))
        data_dir = Path(env.get("WELFARE_HUB_DATA_DIR") or ".welfare-hub")

        def path(name: str, default: Path | None) -> Path | None:
            raw = env.get(name)
            return Path(raw) if raw else default

        settings = cls(
            production=mode == "production",
            database_url=env.get("DATABASE_URL") or None,
            store_urls=store_urls,
            db_prefix=prefix,
            data_dir=data_dir,
            issuer=text("WELFARE_HUB_ISSUER", cls.issuer),
            audience=text("WELFARE_HUB_AUDIENCE", cls.audience),
            jwks_path=path("WELFARE_HUB_JWKS", None),
            jwks_url=env.get("WELFARE_HUB_JWKS_URL") or None,
            keys_path=path("WELFARE_HUB_KEYS", None),
            audit_keys_path=path("WELFARE_HUB_AUDIT_KEYS", None),
            audit_checkpoint_seconds=number(
                "WELFARE_HUB_AUDIT_CHECKPOINT_SECONDS", cls.audit_checkpoint_seconds, minimum=1, maximum=86400
            ),
            audit_checkpoint_every_records=int(
                number(
                    "WELFARE_HUB_AUDIT_CHECKPOINT_EVERY_RECORDS",
                    cls.audit_checkpoint_every_records,
                    integer=True,
                    maximum=10_000_000,
                )
            ),
            audit_verify_seconds=number(
                "WELFARE_HUB_AUDIT_VERIFY_SECONDS", cls.audit_verify_seconds, minimum=0, maximum=86400
            ),
            audit_query_timeout=number("WELFARE_HUB_AUDIT_QUERY_TIMEOUT_MS", 10000, minimum=1) / 1000,
            dispatch_seconds=number("WELFARE_HUB_DISPATCH_SECONDS", cls.dispatch_seconds, minimum=0, maximum=3600),
            interest_check_seconds=number(
                "WELFARE_HUB_INTEREST_CHECK_SECONDS", cls.interest_check_seconds, minimum=0, maximum=86400
            ),
            trace_retention_days=int(
                number("WELFARE_HUB_TRACE_RETENTION_DAYS", cls.trace_retention_days, integer=True, maximum=3660)
            ),
            purposes_path=path("WELFARE_HUB_PURPOSES", cls.purposes_path) or cls.purposes_path,
            rate_limits_path=path("WELFARE_HUB_RATE_LIMITS", cls.rate_limits_path) or cls.rate_limits_path,
            rate_limit_timeout=number("WELFARE_HUB_RATE_LIMIT_TIMEOUT_MS", 500, minimum=1, maximum=10000) / 1000,
            user_in_flight=int(number("WELFARE_HUB_USER_IN_FLIGHT", cls.user_in_flight, integer=True, minimum=1)),
            trusted_proxies=proxies(env.get("WELFARE_HUB_TRUSTED_PROXIES", "")),
            source_timeout=number("WELFARE_HUB_SOURCE_TIMEOUT_MS", 2000, minimum=1) / 1000,
            subgraph_urls=subgraph_urls,
            assertion_key_path=path("WELFARE_HUB_ASSERTION_KEY", None),
            assertion_issuer=text("WELFARE_HUB_ASSERTION_ISSUER", cls.assertion_issuer),
            subgraph_breaker_failures=int(
                number("WELFARE_HUB_SUBGRAPH_BREAKER_FAILURES", 5, integer=True, minimum=1, maximum=1000)
            ),
            subgraph_breaker_seconds=number("WELFARE_HUB_SUBGRAPH_BREAKER_MS", 5000, minimum=1, maximum=600_000) / 1000,
            subgraph_max_body_bytes=int(
                number("WELFARE_HUB_SUBGRAPH_MAX_BODY_BYTES", 1 << 20, integer=True, minimum=1024, maximum=64 << 20)
            ),
            audit_timeout=number("WELFARE_HUB_AUDIT_TIMEOUT_MS", 2000, minimum=1) / 1000,
            unauthenticated_audit_per_second=number(
                "WELFARE_HUB_UNAUTHENTICATED_AUDIT_PER_SECOND", cls.unauthenticated_audit_per_second, minimum=1
            ),
            org_cache_seconds=number("WELFARE_HUB_ORG_CACHE_SECONDS", cls.org_cache_seconds, maximum=3600),
            max_depth=int(number("WELFARE_HUB_MAX_DEPTH", cls.max_depth, integer=True, minimum=2)),
            max_aliases=int(number("WELFARE_HUB_MAX_ALIASES", cls.max_aliases, integer=True)),
            max_fields=int(number("WELFARE_HUB_MAX_FIELDS", cls.max_fields, integer=True, minimum=1)),
            max_tokens=int(number("WELFARE_HUB_MAX_TOKENS", cls.max_tokens, integer=True, minimum=10)),
            max_list_items=int(number("WELFARE_HUB_MAX_LIST_ITEMS", cls.max_list_items, integer=True, minimum=1)),
            request_loop_budget=number("WELFARE_HUB_REQUEST_LOOP_BUDGET_MS", 1000, minimum=1) / 1000,
            loop_slice=number("WELFARE_HUB_LOOP_SLICE_MS", 20, minimum=0) / 1000,
            max_body_bytes=int(number("WELFARE_HUB_MAX_BODY_BYTES", cls.max_body_bytes, integer=True)),
            link_model_path=path("WELFARE_HUB_LINK_MODEL", None),
            link_threshold=number("WELFARE_HUB_LINK_THRESHOLD", cls.link_threshold, minimum=0.5, maximum=0.999999),
            review_threshold=number(
                "WELFARE_HUB_REVIEW_THRESHOLD", cls.review_threshold, minimum=0.01, maximum=0.999999
            ),
            link_absent=number("WELFARE_HUB_LINK_ABSENT", cls.link_absent, minimum=0.0001, maximum=0.9),
            dob_placeholders=dob_placeholders,
            host=text("WELFARE_HUB_HOST", cls.host),
            port=int(number("WELFARE_HUB_PORT", cls.port, integer=True, minimum=0, maximum=65535)),
            workers=int(number("WELFARE_HUB_WORKERS", cls.workers, integer=True, minimum=1, maximum=64)),
            pool_size=int(number("WELFARE_HUB_POOL_SIZE", cls.pool_size, integer=True, minimum=1, maximum=200)),
            metrics_port=int(number("WELFARE_HUB_METRICS_PORT", cls.metrics_port, integer=True, maximum=65535)),
            metrics_host=text("WELFARE_HUB_METRICS_HOST", cls.metrics_host),
            otel={k: v for k, v in env.items() if k.startswith("OTEL_")},
        )
        if settings.metrics_port and settings.metrics_port == settings.port:
            problems.append(
                "WELFARE_HUB_METRICS_PORT must not be the API's port (WELFARE_HUB_PORT): metrics are the operator's"
            )
        if settings.production:
            problems += settings.production_problems()
        if problems:
            raise ConfigError(problems)
        return settings

    def production_problems(self) -> list[str]:
        """What production mode needs that is missing: it refuses to start rather than run unsafely."""
        problems = []
        if self.jwks_path is None and self.jwks_url is None:
            problems.append("WELFARE_HUB_JWKS or WELFARE_HUB_JWKS_URL (the token issuer's public keys) is not set")
        if self.keys_path is None:
            problems.append("WELFARE_HUB_KEYS (the hub's HMAC key ring) is not set")
        if self.audit_keys_path is None:
            problems.append("WELFARE_HUB_AUDIT_KEYS (the keys that sign audit checkpoints) is not set")
        if self.subgraph_urls and self.assertion_key_path is None:
            problems.append(
                "WELFARE_HUB_ASSERTION_KEY (the key that signs the hub's questions to subgraphs) is not set"
            )
        if self.database_url is None and not self.store_urls:
            problems.append("no database: set DATABASE_URL or the four WELFARE_HUB_*_URL variables")
        return problems

    def with_database(self, database_url: str) -> Settings:
        return replace(self, database_url=database_url)

    def database_name(self, store: StoreName) -> str:
        return f"{self.db_prefix}{store}"

    def service_url(self, store: StoreName) -> str:
        """URL the running service uses for ``store``: least privilege (read-only for sources)."""
        if store in self.store_urls:
            return self.store_urls[store]
        if self.database_url is None:
            raise ConfigError([f"no URL for store {store}: set DATABASE_URL or {_STORE_ENV[store]}"])
        _, service_role = store_role_names(self.db_prefix, store)
        return _with_db_and_user(self.database_url, self.database_name(store), service_role)

    def admin_url(self, store: StoreName | None = None) -> str:
        """URL with the administrator's role, to ``store``'s database or the server's maintenance one."""
        if self.database_url is None:
            raise ConfigError(["provisioning needs DATABASE_URL (a role that may create databases)"])
        database = "postgres" if store is None else self.database_name(store)
        return _with_db_and_user(self.database_url, database, None)

    @property
    def hub_timeout(self) -> float:
        """The longest a request waits for a connection to the hub database (each store call bounds its
        statements within its own timeout as well)."""
        return max(self.audit_timeout, self.source_timeout)

    @property
    def hub_statement_timeout(self) -> float:
        """The longest any one statement may run on the hub database, server and client side: auditors'
        searches (``audit_query_timeout``) and the background roles' rounds (five audit timeouts)."""
        return max(self.audit_query_timeout, 5 * self.audit_timeout, self.hub_timeout)
