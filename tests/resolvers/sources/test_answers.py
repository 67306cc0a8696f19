"""What a source may answer under the contract (resolvers.sources.contract.answer), whatever the transport:
only the councils in scope, the derived yes/no computed from detail that never leaves, and nothing that
was not asked for."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from resolvers.sources.contract import (
    CONTRACT_FIELDS,
    answer,
    coordinates,
    fetched,
    merge_care,
    merge_claims,
    selection_from,
)
from resolvers.sources.records import (
    Address,
    Benefit,
    BenefitAward,
    CarePlacement,
    CarePlan,
    DwpRecord,
    HousingBenefitClaim,
    HousingBenefitRecord,
    PersonName,
    PlacementKind,
    SocialCareRecord,
    TenancyType,
)
from tests.asks import full_ask

TODAY = dt.date(2026, 12, 3)


def _dwp(*, points: int | None = 10, protected: bool = False) -> DwpRecord:
    return DwpRecord(
        name=PersonName("Margaret", None, "Okafor"),
        date_of_birth=dt.date(1950, 3, 14),
        held_address=Address("1 High St", None, "Northtown", "NT1 1AA"),
        address_protected=protected,
        awards_in_payment=(
            BenefitAward(
                Benefit.PIP, "mobility", "enhanced", Decimal("75.75"), dt.date(2020, 1, 1), None, points, None
            ),
        ),
        declared_income=(),
        declared_capital=(),
        household_members=(),
    )


def _claim(ref: str, council: str, *, room: bool = True, ended: dt.date | None = None) -> HousingBenefitClaim:
    return HousingBenefitClaim(
        ref, council, TenancyType.SOCIAL, Decimal(100), Decimal(80), 2, room, dt.date(2020, 1, 1), ended, (), 0
    )


def _care(council: str, *, overnight: bool, hours: str, ended: dt.date | None = None) -> SocialCareRecord:
    return SocialCareRecord(
        care_plans=(CarePlan(dt.date(2020, 1, 1), ended, overnight, Decimal(hours), council),),
        placements=(CarePlacement(PlacementKind.HOSPITAL, dt.date(2025, 9, 1), None, council),),
        financial_assessments=(),
        council_codes=(council,),
    )


def test_blue_badge_is_answered_and_the_points_never_leave() -> None:
    ask = full_ask(selection=selection_from(["DwpRecord.blueBadgeAutomaticEligibility"]))
    (found,) = answer("dwp", [_dwp(points=10)], ask)
    assert found is not None
    assert found.blue_badge_automatic_eligibility is True
    # Nothing but the yes/no: no name, no award, no points.
    assert found.name is None
    assert found.awards_in_payment is None
    assert found.held_address is None
    (low,) = answer("dwp", [_dwp(points=4)], ask)
    assert low is not None
    assert low.blue_badge_automatic_eligibility is False


def test_even_a_full_selection_carries_no_pip_points() -> None:
    (found,) = answer("dwp", [_dwp(points=10)], full_ask())
    assert found is not None
    (award,) = found.awards_in_payment
    assert award.pip_moving_around_points is None
    assert award.pip_planning_journeys_descriptor is None
    assert award.weekly_amount == Decimal("75.75")
    assert award.benefit is Benefit.PIP


def test_a_protected_address_travels_with_the_address_only() -> None:
    (with_address,) = answer("dwp", [_dwp(protected=True)], full_ask(selection=selection_from(["DwpRecord.address"])))
    assert with_address is not None
    assert with_address.address_protected is True
    (without,) = answer("dwp", [_dwp(protected=True)], full_ask(selection=selection_from(["DwpRecord.name"])))
    assert without is not None
    assert without.address_protected is None
    assert without.held_address is None


def test_another_councils_claims_are_not_held_for_this_caller() -> None:
    record = HousingBenefitRecord(claims=(_claim("A1", "E1"), _claim("B1", "E2", room=False)))
    ask = full_ask(councils=frozenset({"E2"}))
    (found,) = answer("hb", [record], ask)
    assert found is not None
    assert [c.claim_ref for c in found.claims] == ["B1"]
    # The yes/no is judged on the caller's council's claims only: E1's room is not E2's to learn.
    assert found.overnight_carer_room_awarded is False
    (none,) = answer("hb", [HousingBenefitRecord(claims=(_claim("A1", "E1"),))], ask)
    assert none is None
    (every,) = answer("hb", [record], full_ask(councils=None))
    assert every is not None
    assert every.overnight_carer_room_awarded is True


def test_no_council_means_no_council_records() -> None:
    ask = full_ask(councils=frozenset())
    assert answer("hb", [HousingBenefitRecord(claims=(_claim("A1", "E1"),))], ask) == [None]
    assert answer("social_care", [_care("E1", overnight=True, hours="3")], ask) == [None]


def test_care_answers_come_from_current_plans_and_the_plans_stay() -> None:
    record = _care("E1", overnight=True, hours="14.5")
    (found,) = answer("social_care", [record], full_ask(), today=TODAY)
    assert found is not None
    assert found.overnight_care_required is True
    assert found.domiciliary_hours_per_week == Decimal("14.5")
    assert found.care_plans is None  # Art. 9 detail: only the answers cross
    (ended,) = answer(
        "social_care", [_care("E1", overnight=True, hours="9", ended=dt.date(2021, 1, 1))], full_ask(), today=TODAY
    )
    assert ended is not None
    assert ended.overnight_care_required is False
    assert ended.domiciliary_hours_per_week == Decimal(0)


def test_merged_answers_join_lists_or_yes_no_and_add_hours() -> None:
    a, b = answer(
        "social_care",
        [_care("E1", overnight=False, hours="2"), _care("E1", overnight=True, hours="3.5")],
        full_ask(),
        today=TODAY,
    )
    assert a is not None
    assert b is not None
    merged = merge_care([a, b])
    assert merged.overnight_care_required is True
    assert merged.domiciliary_hours_per_week == Decimal("5.5")
    assert len(merged.placements) == 2
    claims = merge_claims(
        [
            HousingBenefitRecord((_claim("A", "E1", room=False),), False),
            HousingBenefitRecord((_claim("B", "E1"),), True),
        ]
    )
    assert claims is not None
    assert claims.overnight_carer_room_awarded is True
    assert len(claims.claims) == 2
    assert merge_claims([]) is None


def test_a_field_not_asked_for_is_refused_loudly_when_read() -> None:
    (found,) = answer("dwp", [_dwp()], full_ask(selection=selection_from(["DwpRecord.name"])))
    assert found is not None
    with pytest.raises(LookupError):
        fetched(found.blue_badge_automatic_eligibility)


def test_selection_keeps_only_contract_fields_and_coordinates_follow_it() -> None:
    selection = selection_from(
        ["Query.person", "Person.dwp", "DwpRecord.name", "PersonName.givenName", "DwpRecord.nope", "Audit.x"]
    )
    assert selection == {"DwpPerson": frozenset({"name"}), "PersonName": frozenset({"givenName"})}
    assert coordinates("DwpPerson", selection) == ["DwpPerson.name", "PersonName.givenName"]
    # A type selected but not reached from the entity is not asked for.
    assert coordinates("HbPerson", selection) == []


@pytest.mark.parametrize("record_type", [DwpRecord, HousingBenefitRecord, SocialCareRecord])
def test_every_projected_record_field_is_a_contract_field_or_kept_metadata(record_type: type) -> None:
    # The projection's name mapping (camelCase contract field -> record attribute) misses nothing: every
    # attribute of the record is either a contract field, or one the contract keeps for the hub's checks.
    entity = {DwpRecord: "DwpPerson", HousingBenefitRecord: "HbPerson", SocialCareRecord: "CareClient"}[record_type]
    kept = {"address_protected", "care_plans", "council_codes"}
    contract = {f if f != "address" else "heldAddress" for f in CONTRACT_FIELDS[entity]}
    snake = {"".join("_" + c.lower() if c.isupper() else c for c in f) for f in contract}
    for f in dataclasses.fields(record_type):
        assert f.name in snake or f.name in kept, f.name
