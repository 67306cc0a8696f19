"""The purpose register and the purpose decision. Pure: data in, decision out; no I/O but reading the file.

The register (``policy/purposes.toml``) is reviewed like code. It is validated against the served schema
at start-up: an unknown purpose, org type or field coordinate refuses to load, listing every problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.access.caller import Caller
from hub.errors import ConfigError, PurposeForbidsField, PurposeNotGranted, UnknownPurpose
from hub.types import TIERS

__all__ = ["PurposeSpec", "Register", "decide", "load_register"]


@dataclass(frozen=True, slots=True)
class PurposeSpec:
    id: str
    title: str
    summary: str  # what is shared and why, for the person (the privacy notice)
    legal_basis: str
    gdpr_article6: str
    gdpr_article9: str | None
    org_types: frozenset[str]
    fields: frozenset[str]
    tier: str
    consent_required: bool
    consent_renewal: str | None  # ISO 8601 duration after which consent must be asked again
    consent_recorders: frozenset[str]  # org types that may record consent (withdrawing: its recipient or recorder)
    notify_on_share: bool  # the person is told of each share
    local_tie: bool  # a council may look up only people connected with its own area
    cross_council: bool  # a council's team may see HB and social-care records other councils hold
    retention: str  # ISO 8601 duration the recipient may keep what it received


@dataclass(frozen=True, slots=True)
class Register:
    purposes: Mapping[str, PurposeSpec]
    org_types: Mapping[str, str]
    notice: Mapping[str, str]  # the register's [notice] table: controller, complaints, regulator
    #: Organisation types that send their organisation's registered operations only ([operations] required_for)
    persisted_only: frozenset[str] = frozenset()


_REQUIRED = ("title", "summary", "legal_basis", "gdpr_article6", "org_types", "fields", "tier", "retention")
_OPTIONAL = (
    "gdpr_article9", "consent_required", "consent_renewal", "consent_recorders", "notify_on_share", "local_tie",
    "cross_council",
)  # fmt: skip
_NOTICE = ("controller", "complaints", "regulator")
# ISO 8601 durations in years, months, weeks and days (what retention and renewal periods are written in).
_DURATION = re.compile(r"P(?=\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?")


def _spec(pid: str, raw: Mapping[str, Any], problems: list[str]) -> PurposeSpec | None:
    missing = [key for key in _REQUIRED if key not in raw]
    unknown = sorted(set(raw) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        problems.append(f"purpose {pid}: unknown key(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"purpose {pid}: missing {', '.join(missing)}")
        return None
    spec = PurposeSpec(
        id=pid,
        title=str(raw["title"]),
        summary=str(raw["summary"]),
        legal_basis=str(raw["legal_basis"]),
        gdpr_article6=str(raw["gdpr_article6"]),
        gdpr_article9=raw.get("gdpr_article9"),
        org_types=frozenset(raw["org_types"]),
        fields=frozenset(raw["fields"]),
        tier=str(raw["tier"]),
        consent_required=raw.get("consent_required", False) is True,
        consent_renewal=raw.get("consent_renewal"),
        consent_recorders=frozenset(raw.get("consent_recorders", ())),
        notify_on_share=raw.get("notify_on_share", False) is True,
        local_tie=raw.get("local_tie", True) is not False,
        cross_council=raw.get("cross_council", False) is True,
        retention=str(raw["retention"]),
    )
    for key in ("consent_required", "notify_on_share", "local_tie", "cross_council"):
        if key in raw and not isinstance(raw[key], bool):
            problems.append(f"purpose {pid}: {key} must be true or false")
    for key in ("retention", "consent_renewal"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and _DURATION.fullmatch(value)):
            problems.append(f"purpose {pid}: {key} {value!r} is not an ISO 8601 duration such as P2Y or P6M")
    if spec.consent_required and (spec.consent_renewal is None or not spec.consent_recorders):
        problems.append(f"purpose {pid}: a consent-based purpose needs consent_renewal and consent_recorders")
    if not spec.consent_required and (spec.consent_renewal is not None or spec.consent_recorders):
        problems.append(f"purpose {pid}: consent_renewal and consent_recorders apply only with consent_required")
    if spec.consent_required != spec.gdpr_article6.startswith("6(1)(a)"):
        problems.append(f"purpose {pid}: consent_required must go with UK GDPR Art. 6(1)(a) consent, and only with it")
    if spec.tier == "special_category" and not spec.gdpr_article9:
        problems.append(f"purpose {pid}: special-category data needs a UK GDPR Art. 9 condition (gdpr_article9)")
    return spec


def load_register(
    path: Path,
    *,
    schema_coordinates: Collection[str],
    purpose_ids: Collection[str],
    field_tiers: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Register:
    """Load and validate the register against the schema: its field coordinates, the Purpose enum, the
    fields' sensitivity tiers (a purpose lists no field above its own tier) and descriptions (every field
    a purpose releases is described, for the privacy notice)."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"cannot read the purpose register {path}: {e}"]) from e
    problems: list[str] = []
    problems += [
        f"unknown top-level table {k!r}" for k in sorted(set(doc) - {"org_types", "purposes", "notice", "operations"})
    ]
    org_types = {str(k): str(v) for k, v in doc.get("org_types", {}).items()}
    if not org_types:
        problems.append("the register defines no org_types")
    notice = {str(k): str(v) for k, v in doc.get("notice", {}).items()}
    operations = doc.get("operations", {})
    problems += [f"[operations] has unknown key {k!r}" for k in sorted(set(operations) - {"required_for"})]
    required = operations.get("required_for", [])
    if not isinstance(required, list) or not all(isinstance(t, str) for t in required):
        problems.append("[operations] required_for must be a list of organisation types")
        required = []
    problems += [f"[operations] required_for: unknown org type {t!r}" for t in required if t not in org_types]
    problems += [f"[notice] misses {k}" for k in _NOTICE if k not in notice]
    problems += [f"[notice] has unknown key {k!r}" for k in sorted(notice.keys() - set(_NOTICE))]
    purposes: dict[str, PurposeSpec] = {}
    for pid, raw in doc.get("purposes", {}).items():
        spec = _spec(pid, raw, problems)
        if spec is None:
            continue
        if pid not in purpose_ids:
            problems.append(f"purpose {pid} is not a value of the schema's Purpose enum")
        problems += [f"purpose {pid}: unknown org type {t!r}" for t in sorted(spec.org_types - org_types.keys())]
        problems += [
            f"purpose {pid}: unknown consent recorder org type {t!r}"
            for t in sorted(spec.consent_recorders - org_types.keys())
        ]
        problems += [
            f"purpose {pid}: unknown field coordinate {f!r}" for f in sorted(spec.fields - set(schema_coordinates))
        ]
        if spec.tier not in TIERS:
            problems.append(f"purpose {pid}: tier {spec.tier!r} is not one of {', '.join(TIERS)}")
        elif field_tiers is not None:
            problems += [
                f"purpose {pid} (tier {spec.tier}) lists {f}, which is {field_tiers.get(f, 'without a tier')}"
                for f in sorted(spec.fields)
                if f in schema_coordinates and TIERS.index(spec.tier) < TIERS.index(field_tiers.get(f, TIERS[-1]))
            ]
        if descriptions is not None:
            problems += [
                f"purpose {pid}: {f} has no description in the schema (the privacy notice needs one)"
                for f in sorted(spec.fields)
                if f in schema_coordinates and not descriptions.get(f)
            ]
        purposes[pid] = spec
    problems += [
        f"Purpose enum value {p} has no entry in the register" for p in sorted(set(purpose_ids) - purposes.keys())
    ]
    if problems:
        raise ConfigError(problems)
    return Register(purposes=purposes, org_types=org_types, notice=notice, persisted_only=frozenset(required))


def decide(register: Register, caller: Caller, purpose_id: str, coordinates: Iterable[str]) -> PurposeSpec:
    """Allow the operation (returning its purpose) or raise the refusal, before any source is read.

    A purpose is allowed when it is in the register, the caller's organisation type is one the purpose
    belongs to, and the caller's token grants it; every field selected must be in its allow-list. (A
    consent-based purpose also needs the person's live consent: the guard checks it, with the subject,
    before any source is read.)
    """
    spec = register.purposes.get(purpose_id)
    if spec is None:
        raise UnknownPurpose("the purpose is not in the register")
    if caller.org_type not in spec.org_types or purpose_id not in caller.purposes:
        raise PurposeNotGranted(
            f"purpose {purpose_id} is not granted to your organisation (type {caller.org_type})",
            purpose=purpose_id,
        )
    # Meta fields (__typename; introspection, gated separately) carry no personal data.
    forbidden = {c for c in coordinates if c not in spec.fields and not c.rsplit(".", 1)[-1].startswith("__")}
    if forbidden:
        raise PurposeForbidsField(purpose_id, forbidden)
    return spec
