"""Fixtures for the subgraph transport: the hub's signing key, a fake subgraph per source on real HTTP
holding a few full records, and the adapter under test pointed at it (closed after each test)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, AssertionVerifier
from resolvers.sources.contract import Ask
from resolvers.sources.records import (
    Address,
    Benefit,
    BenefitAward,
    CarePlacement,
    CarePlan,
    DeclaredCapital,
    DeclaredIncome,
    DhpAward,
    DwpRecord,
    FinancialAssessment,
    HouseholdMember,
    HousingBenefitClaim,
    HousingBenefitRecord,
    PersonName,
    PlacementKind,
    SocialCareRecord,
    TenancyType,
)
from resolvers.sources.remote import CareSubgraph, CircuitBreaker, DwpSubgraph, HbSubgraph, SubgraphSource
from tests.sources.remote.fake_subgraph import FakeSubgraph, Serving

ISSUER = "welfare-hub-test"
COUNCIL = "E06000001"
OTHER_COUNCIL = "E06000002"

MARGARET_NINO = "AB123456C"
PROTECTED_NINO = "CE654321A"
HB_NINO = "JK112233A"
CARE_NINO = "PR445566B"

MARGARET = DwpRecord(
    name=PersonName("Margaret", "Ann", "Jones"),
    date_of_birth=dt.date(1948, 5, 2),
    held_address=Address("1 High Street", None, "Newtown", "NT1 1AA"),
    address_protected=False,
    awards_in_payment=(
        BenefitAward(Benefit.DLA, "mobility", "higher", Decimal("75.75"), dt.date(2015, 4, 1), None),
        BenefitAward(Benefit.PIP, "daily_living", "enhanced", Decimal("108.55"), dt.date(2020, 1, 6), None, 12, "F"),
    ),
    declared_income=(DeclaredIncome("pension", Decimal("180.00"), dt.date(2024, 1, 1)),),
    declared_capital=(DeclaredCapital("savings", Decimal("1200.00"), dt.date(2024, 1, 1)),),
    household_members=(HouseholdMember("partner", PersonName("Tom", None, "Jones"), dt.date(1946, 2, 3)),),
)
PROTECTED = DwpRecord(
    name=PersonName("Sam", None, "Hidden"),
    date_of_birth=dt.date(1980, 7, 9),
    held_address=Address("Refuge", None, "Newtown", "NT2 2BB"),
    address_protected=True,
    awards_in_payment=(),
    declared_income=(),
    declared_capital=(),
    household_members=(),
)
HB_RECORD = HousingBenefitRecord(
    claims=(
        HousingBenefitClaim(
            "HB-1",
            COUNCIL,
            TenancyType.SOCIAL,
            Decimal("95.00"),
            Decimal("80.00"),
            2,
            True,
            dt.date(2021, 3, 1),
            None,
            (DhpAward("rent shortfall", Decimal("10.00"), dt.date(2024, 1, 1), None),),
            1,
        ),
        HousingBenefitClaim(
            "HB-9",
            OTHER_COUNCIL,
            TenancyType.LHA,
            Decimal("120.00"),
            Decimal("60.00"),
            1,
            False,
            dt.date(2019, 3, 1),
            dt.date(2020, 3, 1),
            (),
            0,
        ),
    )
)
CARE_RECORD = SocialCareRecord(
    care_plans=(CarePlan(dt.date(2023, 1, 1), None, True, Decimal("14.5"), COUNCIL),),
    placements=(CarePlacement(PlacementKind.CARE_HOME, dt.date(2024, 2, 1), None, COUNCIL),),
    financial_assessments=(FinancialAssessment(dt.date(2024, 2, 10), Decimal("210.40"), "B", COUNCIL),),
    council_codes=(COUNCIL,),
)
ELSEWHERE = SocialCareRecord(  # held only by another council: "not held" for a caller scoped to COUNCIL
    care_plans=(),
    placements=(CarePlacement(PlacementKind.HOSPITAL, dt.date(2024, 5, 1), dt.date(2024, 5, 9), OTHER_COUNCIL),),
    financial_assessments=(),
    council_codes=(OTHER_COUNCIL,),
)


def make_ask(selection: dict[str, frozenset[str]], *, purpose: str = "CARE_CHARGING", councils: Any = None) -> Ask:
    return Ask(
        purpose=purpose,
        legal_basis="SSWA 1992 s.7B",
        org="council-newtown",
        org_type="council",
        audit_id=uuid.uuid4(),
        selection=selection,
        councils=frozenset({COUNCIL}) if councils is None else councils,
    )


@pytest.fixture(scope="session")
def hub_key() -> IssuerKey:
    return IssuerKey(Ed25519PrivateKey.generate(), "hub-assertion-1")


@pytest.fixture(scope="session")
def signer(hub_key: IssuerKey) -> AssertionSigner:
    return AssertionSigner(hub_key.private_key, hub_key.kid, issuer=ISSUER)


def _fake(source: str, hub_key: IssuerKey) -> FakeSubgraph:
    verifier = AssertionVerifier(hub_key.jwks(), issuer=ISSUER, audience=source)
    fake = FakeSubgraph(source, verifier)
    if source == "dwp":
        fake.hold(
            MARGARET,
            recordId="1",
            nino=MARGARET_NINO,
            councils=[],
            postcodeDistricts=["NT1"],
            recordIds=["1"],
            homeKeys=["household:7", "address:NT11AA/1HIGHSTREET"],
        )
        fake.hold(
            PROTECTED,
            recordId="2",
            nino=PROTECTED_NINO,
            councils=[],
            postcodeDistricts=["NT2"],
            recordIds=["2"],
            homeKeys=[],
        )
    elif source == "hb":
        fake.hold(
            HB_RECORD,
            recordId="HB-1",
            nino=HB_NINO,
            councils=[COUNCIL],
            postcodeDistricts=["NT1"],
            recordIds=["HB-1", "HB-9"],
            openClaims=[{"claimRef": "HB-1", "councilCode": COUNCIL}],
        )
    else:
        fake.hold(
            CARE_RECORD,
            recordId="C-1",
            nino=CARE_NINO,
            councils=[COUNCIL],
            postcodeDistricts=["NT1"],
            recordIds=["C-1"],
        )
        fake.hold(
            ELSEWHERE, recordId="C-2", nino=None, councils=[OTHER_COUNCIL], postcodeDistricts=["NT9"], recordIds=["C-2"]
        )
    return fake


@pytest.fixture(params=["dwp", "hb", "social_care"])
def source_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Subgraph:
    """A fake subgraph serving on loopback."""

    def __init__(self, fake: FakeSubgraph, serving: Serving) -> None:
        self.fake = fake
        self.url = serving.url

    @property
    def received(self) -> list[Any]:
        return self.fake.received


@pytest.fixture
def subgraphs(hub_key: IssuerKey) -> Iterator[dict[str, Subgraph]]:
    fakes = {name: _fake(name, hub_key) for name in ("dwp", "hb", "social_care")}
    with Serving(fakes["dwp"].handle) as d, Serving(fakes["hb"].handle) as h, Serving(fakes["social_care"].handle) as c:
        yield {
            "dwp": Subgraph(fakes["dwp"], d),
            "hb": Subgraph(fakes["hb"], h),
            "social_care": Subgraph(fakes["social_care"], c),
        }


_CLASSES: dict[str, type[SubgraphSource[Any]]] = {"dwp": DwpSubgraph, "hb": HbSubgraph, "social_care": CareSubgraph}


@pytest.fixture
async def connect(subgraphs: dict[str, Subgraph], signer: AssertionSigner) -> AsyncIterator[Any]:
    """``connect(name, **options)``: the adapter for that fake subgraph (closed after the test)."""
    made: list[SubgraphSource[Any]] = []

    def make(
        name: str,
        *,
        url: str | None = None,
        timeout: float = 2.0,
        breaker: CircuitBreaker | None = None,
        **options: Any,
    ) -> Any:
        source = _CLASSES[name](url or subgraphs[name].url, signer=signer, timeout=timeout, breaker=breaker, **options)
        made.append(source)
        return source

    yield make
    for source in made:
        await source.aclose()
