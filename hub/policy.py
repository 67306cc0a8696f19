"""The purpose register and the purpose decision. Pure: data in, decision out; no I/O but reading the file.

The register (``policy/purposes.toml``) is reviewed like code. It is validated against the served schema
at start-up: an unknown purpose, org type or field coordinate refuses to load, listing every problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.caller import Caller
from hub.errors import ConfigError, ConsentRequired, PurposeForbidsField, PurposeNotGranted, UnknownPurpose

__all__ = ["TIERS", "PurposeSpec", "Register", "decide", "load_register"]

#: Sensitivity tiers, lowest first (DESIGN: identity < benefit status < financial detail < special category).
TIERS = ("identity", "benefit_status", "financial", "special_category")


@dataclass(frozen=True, slots=True)
class PurposeSpec:
    id: str
    title: str
    legal_basis: str
    gdpr_article6: str
    gdpr_article9: str | None
    org_types: frozenset[str]
    fields: frozenset[str]
    tier: str
    consent_required: bool
    retention: str


@dataclass(frozen=True, slots=True)
class Register:
    purposes: Mapping[str, PurposeSpec]
    org_types: Mapping[str, str]


def _spec(pid: str, raw: Mapping[str, Any], problems: list[str]) -> PurposeSpec | None:
    required = ("title", "legal_basis", "gdpr_article6", "org_types", "fields", "tier", "retention")
    missing = [key for key in required if key not in raw]
    if missing:
        problems.append(f"purpose {pid}: missing {', '.join(missing)}")
        return None
    return PurposeSpec(
        id=pid,
        title=str(raw["title"]),
        legal_basis=str(raw["legal_basis"]),
        gdpr_article6=str(raw["gdpr_article6"]),
        gdpr_article9=raw.get("gdpr_article9"),
        org_types=frozenset(raw["org_types"]),
        fields=frozenset(raw["fields"]),
        tier=str(raw["tier"]),
        consent_required=bool(raw.get("consent_required", False)),
        retention=str(raw["retention"]),
    )


def load_register(path: Path, *, schema_coordinates: Collection[str], purpose_ids: Collection[str]) -> Register:
    """Load and validate the register against the schema's field coordinates and Purpose enum."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"cannot read the purpose register {path}: {e}"]) from e
    problems: list[str] = []
    org_types = {str(k): str(v) for k, v in doc.get("org_types", {}).items()}
    if not org_types:
        problems.append("the register defines no org_types")
    purposes: dict[str, PurposeSpec] = {}
    for pid, raw in doc.get("purposes", {}).items():
        spec = _spec(pid, raw, problems)
        if spec is None:
            continue
        if pid not in purpose_ids:
            problems.append(f"purpose {pid} is not a value of the schema's Purpose enum")
        problems += [f"purpose {pid}: unknown org type {t!r}" for t in sorted(spec.org_types - org_types.keys())]
        problems += [
            f"purpose {pid}: unknown field coordinate {f!r}" for f in sorted(spec.fields - set(schema_coordinates))
        ]
        if spec.tier not in TIERS:
            problems.append(f"purpose {pid}: tier {spec.tier!r} is not one of {', '.join(TIERS)}")
        purposes[pid] = spec
    problems += [
        f"Purpose enum value {p} has no entry in the register" for p in sorted(set(purpose_ids) - purposes.keys())
    ]
    if problems:
        raise ConfigError(problems)
    return Register(purposes=purposes, org_types=org_types)


def decide(register: Register, caller: Caller, purpose_id: str, coordinates: Iterable[str]) -> PurposeSpec:
    """Allow the operation (returning its purpose) or raise the refusal, before any source is read.

    A purpose is allowed when it is in the register, the caller's organisation type is one the purpose
    belongs to, and the caller's token grants it; every field selected must be in its allow-list.
    """
    spec = register.purposes.get(purpose_id)
    if spec is None:
        raise UnknownPurpose("the purpose is not in the register")
    if caller.org_type not in spec.org_types or purpose_id not in caller.purposes:
        raise PurposeNotGranted(
            f"purpose {purpose_id} is not granted to your organisation (type {caller.org_type})",
            purpose=purpose_id,
        )
    if spec.consent_required:
        # Consent records come with the authorisation issue; until then a consent-based purpose is refused.
        raise ConsentRequired(f"purpose {purpose_id} needs the person's recorded consent", purpose=purpose_id)
    # Meta fields (__typename; introspection, gated separately) carry no personal data.
    forbidden = {c for c in coordinates if c not in spec.fields and not c.rsplit(".", 1)[-1].startswith("__")}
    if forbidden:
        raise PurposeForbidsField(purpose_id, forbidden)
    return spec
