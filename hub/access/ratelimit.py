"""Rate limits, the pure part: each caller's buckets and their parameters, what an outcome costs, and the
token-bucket arithmetic (also kept in memory, for the per-address throttle and for the fallback used while
the shared store is unavailable).

A request takes from two buckets, its user's and its organisation's, each sized by the organisation's
type (``policy/ratelimits.toml``). Every request costs ``BASE_COST``, taken before it runs; a refusal or a
"not found" costs ``refusal_cost`` in all, the rest charged once the outcome is known (a bucket may then
go below zero: the caller waits the debt off). Fishing for who exists, or for a date of birth, is what
such answers are made of, so it runs out first.

Pure: no database, no I/O beyond reading the operator's file; time is passed in.
"""

from __future__ import annotations

import math
import tomllib
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hub.errors import ConfigError, RequestRefused

__all__ = [
    "BASE_COST",
    "Bucket",
    "BucketSpec",
    "Level",
    "LocalBuckets",
    "RateLimits",
    "TypeLimits",
    "load_rate_limits",
    "outcome_price",
    "retry_after",
]

#: What every request takes from its buckets before it runs.
BASE_COST = 1.0

Scope = Literal["user", "organisation"]


def _refusal_codes() -> frozenset[str]:
    found: set[str] = set()
    pending: list[type[RequestRefused]] = [RequestRefused]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        if cls.audit_code:
            found.add(cls.audit_code)
        pending += cls.__subclasses__()
    return frozenset(found)


#: Answers that cost a refusal's price: every refusal of the operation (its codes, and the true reasons the
#: audit keeps), and "no one you may ask about matches", which a fishing caller collects.
REFUSAL_CODES = _refusal_codes() | {"SUBJECT_NOT_FOUND", "NO_LEGITIMATE_RELATIONSHIP", "MATCH_NEEDS_REVIEW"}


def outcome_price(*, refused: bool, refusals: int, refusal_cost: float) -> float:
    """What a request costs once its outcome is known: ``refusal_cost`` for each refusal or not-found
    answer in it (an operation refused as a whole is one), the base when there is none."""
    count = max(refusals, 1 if refused else 0)
    return refusal_cost * count if count else BASE_COST


@dataclass(frozen=True, slots=True)
class BucketSpec:
    capacity: float  # the burst: what a full bucket holds
    per_second: float  # the refill rate: the sustained requests a second


@dataclass(frozen=True, slots=True)
class TypeLimits:
    user: BucketSpec
    organisation: BucketSpec
    refusal_cost: float  # what a refusal or not-found answer costs in all (a success costs BASE_COST)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket as the store keeps it: ``key`` is ``org:<org id>`` or ``user:<keyed user hash>``."""

    key: str
    scope: Scope
    spec: BucketSpec


@dataclass(frozen=True, slots=True)
class Level:
    """A bucket after a take: whether it was granted, and the tokens left (below the cost when not)."""

    bucket: Bucket
    granted: bool
    tokens: float


def retry_after(levels: Iterable[Level], cost: float = BASE_COST) -> int:
    """Whole seconds (rounded up, at least 1) until every bucket that refused holds ``cost`` again."""
    waits = [(cost - lv.tokens) / lv.bucket.spec.per_second for lv in levels if not lv.granted]
    return max(1, math.ceil(max(waits, default=1.0) - 1e-9))


@dataclass(frozen=True, slots=True)
class RateLimits:
    default: TypeLimits
    org_types: Mapping[str, TypeLimits]
    address: BucketSpec  # refused tokens a second per client address, kept in memory on each pod
    enabled: bool = True

    def for_type(self, org_type: str) -> TypeLimits:
        return self.org_types.get(org_type, self.default)

    def buckets(self, *, org: str, org_type: str, user_hash: str) -> tuple[Bucket, Bucket]:
        """The caller's two buckets, in the one order every statement locks them in (no deadlock)."""
        limits = self.for_type(org_type)
        return (
            Bucket(f"org:{org}", "organisation", limits.organisation),
            Bucket(f"user:{user_hash}", "user", limits.user),
        )


_SPEC_KEYS = {"capacity", "per_second"}
_TYPE_KEYS = {"user", "organisation", "refusal_cost"}


def _spec(where: str, raw: Any, problems: list[str], default: BucketSpec | None = None) -> BucketSpec | None:
    if raw is None:
        if default is None:
            problems.append(f"{where}: missing (a table with capacity and per_second)")
        return default
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table with capacity and per_second")
        return None
    unknown = sorted(set(raw) - _SPEC_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, float] = {}
    for key in sorted(_SPEC_KEYS):
        value = raw.get(key, getattr(default, key, None) if default else None)
        if value is None:
            problems.append(f"{where}.{key}: missing")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"{where}.{key}: must be a finite number, got {value!r}")
        elif key == "capacity" and value < BASE_COST:
            problems.append(f"{where}.capacity: must be at least {BASE_COST:g} (one request), got {value!r}")
        elif key == "per_second" and value <= 0:
            problems.append(f"{where}.per_second: must be above 0 (a bucket that never refills), got {value!r}")
        else:
            values[key] = float(value)
    if len(values) != len(_SPEC_KEYS):
        return None
    return BucketSpec(capacity=values["capacity"], per_second=values["per_second"])


def _type(where: str, raw: Any, problems: list[str], default: TypeLimits | None) -> TypeLimits | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table")
        return None
    unknown = sorted(set(raw) - _TYPE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    user = _spec(f"{where}.user", raw.get("user"), problems, default.user if default else None)
    org = _spec(f"{where}.organisation", raw.get("organisation"), problems, default.organisation if default else None)
    cost = raw.get("refusal_cost", default.refusal_cost if default else None)
    if cost is None:
        problems.append(f"{where}.refusal_cost: missing")
        return None
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost) or cost < BASE_COST:
        problems.append(f"{where}.refusal_cost: must be a number of at least {BASE_COST:g}, got {cost!r}")
        return None
    for name, spec in (("user", user), ("organisation", org)):
        if spec is not None and spec.capacity < cost:
            problems.append(
                f"{where}.{name}.capacity ({spec.capacity:g}) is below refusal_cost ({cost:g}): "
                "a full bucket must pay for one refusal"
            )
    if user is None or org is None:
        return None
    return TypeLimits(user=user, organisation=org, refusal_cost=float(cost))


def load_rate_limits(path: Path, *, org_types: Collection[str]) -> RateLimits:
    """``[default]``, ``[org_types.<type>]`` (each key optional, falling back to the default's) and
    ``[address]``; every problem listed at once, an organisation type the purpose register does not know
    among them."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"cannot read the rate-limit file {path} (WELFARE_HUB_RATE_LIMITS): {e}"]) from e
    problems = [f"unknown top-level key {k!r}" for k in doc if k not in {"enabled", "default", "org_types", "address"}]
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{path}: enabled must be true or false, got {enabled!r}")
    default = _type("default", doc.get("default"), problems, None)
    types: dict[str, TypeLimits] = {}
    raw_types = doc.get("org_types", {})
    if not isinstance(raw_types, dict):
        problems.append("org_types: must be a table of organisation types")
        raw_types = {}
    for org_type, raw in raw_types.items():
        if org_type not in org_types:
            problems.append(f"org_types.{org_type}: not an organisation type of the purpose register")
        limits = _type(f"org_types.{org_type}", raw, problems, default)
        if limits is not None:
            types[org_type] = limits
    address = _spec("address", doc.get("address"), problems)
    if problems or default is None or address is None:
        raise ConfigError([f"rate limits ({path}): {p}" for p in problems])
    return RateLimits(default=default, org_types=types, address=address, enabled=enabled is True)


class LocalBuckets:
    """Token buckets in this process's memory, at most ``max_keys`` of them (the least recently used go
    first, as if full: forgetting a bucket only ever lets a caller through sooner)."""

    def __init__(self, *, max_keys: int = 10000) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _level(self, key: str, spec: BucketSpec, now: float) -> float:
        tokens, at = self._buckets.get(key, (spec.capacity, now))
        return min(spec.capacity, tokens + spec.per_second * max(0.0, now - at))

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def take(self, buckets: Iterable[Bucket], cost: float, now: float) -> list[Level]:
        """Take ``cost`` from every bucket that holds it; refund them all if any does not (a request
        refused by one bucket is charged to none)."""
        buckets = list(buckets)
        levels = [self._level(b.key, b.spec, now) for b in buckets]
        granted = all(level >= cost for level in levels)
        for bucket, level in zip(buckets, levels, strict=True):
            self._store(bucket.key, level - cost if granted else level, now)
        return [
            Level(b, level >= cost, level - cost if granted else level)
            for b, level in zip(buckets, levels, strict=True)
        ]

    def charge(self, buckets: Iterable[Bucket], cost: float, now: float) -> None:
        """Take ``cost`` whatever the level (the price of an outcome known only after the request)."""
        for bucket in buckets:
            self._store(bucket.key, self._level(bucket.key, bucket.spec, now) - cost, now)

    def refund(self, buckets: Iterable[Bucket], cost: float, now: float) -> None:
        for bucket in buckets:
            self._store(bucket.key, min(bucket.spec.capacity, self._level(bucket.key, bucket.spec, now) + cost), now)

    def __len__(self) -> int:
        return len(self._buckets)
