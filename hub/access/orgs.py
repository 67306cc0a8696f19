"""The organisation register's rules: who may call the hub, as what, for which council, until when.

A token names the organisation; the register says what it is. A caller the register does not know, whose
token claims another type, or whose accreditation has expired is refused before anything is read
(:func:`check`). The register is written by the operator from a file (:func:`parse_file`, then
``welfare-hub orgs load FILE``) and kept in the hub database (:mod:`hub.records.orgs`, which caches each
organisation for ``org_cache_seconds``: a withdrawn accreditation applies within that time).

Pure: no database, no I/O beyond reading the operator's file.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import AccreditationExpired, ConfigError, OrganisationTypeMismatch, UnknownOrganisation

__all__ = ["Organisation", "admitted", "check", "parse_file"]


@dataclass(frozen=True)
class Organisation:
    org_id: str
    name: str
    org_type: str
    council_code: str | None = None
    controller_org: str | None = None
    accredited_until: dt.date | None = None
    active: bool = True
    national: bool = False  # serves no one council's area (DWP, auditors): no local tie is asked of it


_FIELDS = ("name", "org_type", "council_code", "controller_org", "accredited_until", "active", "national")


def parse_file(path: Path, *, org_types: Mapping[str, str]) -> list[Organisation]:
    """``[organisations.<id>]`` tables; every problem listed at once (unknown keys, types, controllers)."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"cannot read the organisation file {path}: {e}"]) from e
    problems = [f"unknown top-level table {k!r}" for k in doc if k != "organisations"]
    orgs = []
    raw_orgs: dict[str, Any] = doc.get("organisations", {})
    for org_id, raw in raw_orgs.items():
        problems += [f"organisation {org_id}: unknown key {k!r}" for k in sorted(set(raw) - set(_FIELDS))]
        missing = [k for k in ("name", "org_type") if k not in raw]
        if missing:
            problems.append(f"organisation {org_id}: missing {', '.join(missing)}")
            continue
        if raw["org_type"] not in org_types:
            problems.append(f"organisation {org_id}: unknown org type {raw['org_type']!r}")
        until = raw.get("accredited_until")
        if until is not None and not isinstance(until, dt.date):
            problems.append(f"organisation {org_id}: accredited_until must be a date (YYYY-MM-DD)")
        if raw.get("national") is True and (str(raw["org_type"]).startswith("council_") or raw.get("council_code")):
            # National means no local tie and every council's records: never a council's team.
            problems.append(f"organisation {org_id}: a council's team (or one with a council_code) cannot be national")
        controller = raw.get("controller_org")
        if controller is not None and controller not in raw_orgs:
            problems.append(f"organisation {org_id}: controller {controller!r} is not in the file")
        orgs.append(Organisation(org_id, **{k: raw[k] for k in _FIELDS if k in raw}))
    if problems:
        raise ConfigError(problems)
    return orgs


def admitted(org: Organisation, today: dt.date) -> bool:
    """Whether the register lets the organisation in today: active, and accredited (or never needing it)."""
    return org.active and (org.accredited_until is None or org.accredited_until >= today)


def check(org: Organisation | None, *, claimed_type: str, today: dt.date) -> Organisation:
    """The register's verdict on a caller, or the refusal."""
    if org is None or not org.active:
        raise UnknownOrganisation("your organisation is not in the hub's organisation register")
    if org.org_type != claimed_type:
        raise OrganisationTypeMismatch("your token's organisation type is not the one the register holds")
    if not admitted(org, today):
        raise AccreditationExpired("your organisation's accreditation has expired: nothing can be shared with it")
    return org
