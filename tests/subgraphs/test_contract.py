"""The published contracts are the schemas printed from code; each owner's policy names only contract
fields, and no more of a person than the hub's own register allows the purpose."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from graphql import ObjectTypeDefinitionNode, parse

from hub.errors import ConfigError
from resolvers.sources.contract import CORRECTION_ROUTING_PURPOSE, ENTITIES, LINKAGE_PURPOSE, selection_from
from subgraphs.policy import (
    CANDIDATE_FIELDS,
    DELIVERY_COORDINATES,
    contract_coordinates,
    linkage_coordinates,
    load_policy,
)
from subgraphs.schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
HUB_INTERNAL = {"nino", "recordId", "councils", "postcodeDistricts", "recordIds", "homeKeys", "openClaims"}


@pytest.mark.parametrize("source", sorted(ENTITIES))
def test_the_printed_schema_is_the_published_contract(source: str) -> None:
    assert build_schema(source).as_str() + "\n" == (ROOT / "subgraphs" / f"{source}.graphql").read_text()


@pytest.mark.parametrize("source", sorted(ENTITIES))
def test_every_field_and_type_is_described(source: str) -> None:
    document = parse((ROOT / "subgraphs" / f"{source}.graphql").read_text())
    for definition in document.definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode) or definition.name.value.startswith("_"):
            continue
        if definition.name.value not in {"Query", "Mutation"}:
            assert definition.description is not None, definition.name.value
        for f in definition.fields or ():
            if not f.name.value.startswith("_"):
                assert f.description is not None, f"{definition.name.value}.{f.name.value}"


def test_candidate_fields_are_the_schemas() -> None:
    document = parse((ROOT / "subgraphs" / "dwp.graphql").read_text())
    (candidate,) = [d for d in document.definitions if getattr(d, "name", None) and d.name.value == "Candidate"]  # type: ignore[attr-defined]
    assert tuple(f.name.value for f in candidate.fields) == CANDIDATE_FIELDS  # type: ignore[attr-defined]


def internal(coordinate: str) -> bool:
    """A hub-internal question (the keys, ties, record ids, homes, open claims), not a person's data."""
    type_name, _, name = coordinate.partition(".")
    if coordinate in DELIVERY_COORDINATES:  # the hub delivering a change into the source's inbox: no read
        return True
    return type_name == "OpenClaim" or (type_name in ENTITIES.values() and name in HUB_INTERNAL)


@pytest.mark.parametrize("source", sorted(ENTITIES))
def test_the_owners_policy_allows_no_more_of_a_person_than_the_register(source: str) -> None:
    register = tomllib.loads((ROOT / "policy" / "purposes.toml").read_text())["purposes"]
    policy = load_policy(source)
    offered = contract_coordinates(source)
    for purpose, allowed in policy.purposes.items():
        assert allowed <= offered
        if purpose == LINKAGE_PURPOSE:
            assert allowed == linkage_coordinates(source)
            continue
        assert not [c for c in allowed if c.startswith(("Query.", "Candidate."))], purpose
        if purpose == CORRECTION_ROUTING_PURPOSE:
            # The hub's own purpose for routing a reported inaccuracy: whose a record is, and no more of it.
            person = {c for c in allowed if not internal(c)}
            assert person <= {"HbPerson.claims", "HousingBenefitClaim.councilCode"}, person
            continue
        hub = selection_from(register[purpose]["fields"])
        person = {c for c in allowed if not internal(c)}
        beyond = {c for c in person if c.partition(".")[2] not in hub.get(c.partition(".")[0], frozenset())}
        # The one person field beyond the register: the notifications' date of birth (an effective date's check).
        assert beyond <= {"DwpPerson.dateOfBirth"}, (purpose, beyond)


def test_a_policy_naming_what_the_contract_lacks_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "dwp.toml"
    path.write_text(
        '[purposes]\nBLUE_BADGE = ["DwpPerson.blueBadge", "HbPerson.claims"]\nX = "DwpPerson.nino"\n'
        'LINKAGE = ["Query.candidates", "DwpPerson.nino"]\n[other]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_policy("dwp", path)
    problems = "\n".join(raised.value.problems)
    for needle in ("DwpPerson.blueBadge", "HbPerson.claims", "X must be a list", "candidate search", "unknown table"):
        assert needle in problems


@pytest.mark.parametrize("source", sorted(ENTITIES))
def test_linkage_and_delivery_are_allowed_only_for_their_purposes(source: str) -> None:
    policy = load_policy(source)
    for purpose, allowed in policy.purposes.items():
        if purpose != LINKAGE_PURPOSE:
            assert not allowed & linkage_coordinates(source), purpose
        if allowed & set(DELIVERY_COORDINATES):
            # Delivery goes with the notifications that send changes, and with nothing else.
            assert purpose in {"CHANGE_NOTIFICATION", "OVERNIGHT_CARE_CONFIRMATION"}, purpose
            assert set(DELIVERY_COORDINATES) <= allowed
    delivering = {p for p, a in policy.purposes.items() if a & set(DELIVERY_COORDINATES)}
    assert delivering == {
        "dwp": {"CHANGE_NOTIFICATION"},
        "hb": {"CHANGE_NOTIFICATION", "OVERNIGHT_CARE_CONFIRMATION"},
    }.get(source, set())
