"""Hand-made people with known answers, inserted into the sources by tests (not the generator's output),
so each assertion can be checked against facts written here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

TODAY = dt.date.today()
PAST = dt.date(2019, 4, 1)
ENDED = dt.date(2023, 3, 31)

# NINOs: valid, in clear only here (tests), and the hub must never store or log them.
BADGE_DLA = "JK102030A"  # DLA higher-rate mobility; HB claim with overnight-carer room; social care overnight
PIP_LOW = "JK102031B"  # PIP standard mobility, 4 points moving around: no Blue Badge
PIP_MOVING = "JK102032C"  # PIP enhanced mobility, 12 points moving around: Blue Badge
CARE_ONLY = "JK102033D"  # only social care holds this person; no overnight care
DLA_ENDED = "JK102034A"  # DLA higher-rate mobility that has ended: no Blue Badge
PIP_DISTRESS = "JK102035B"  # PIP mobility descriptor E of planning journeys: Blue Badge
ABSENT = "JK999999A"  # valid, held by no source
OUTSIDER = "JK102037D"  # DWP only, living outside the test council's area
EXTRA = [f"JL{n:06d}A" for n in range(1, 9)]  # plain DWP people for batching tests

ALL = [BADGE_DLA, PIP_LOW, PIP_MOVING, CARE_ONLY, DLA_ENDED, PIP_DISTRESS, OUTSIDER, *EXTRA]


async def insert_people(admin: dict[str, asyncpg.Connection]) -> dict[str, Any]:
    dwp, hb, sc = admin["src_dwp"], admin["src_hb"], admin["src_social_care"]
    persons = (
        [
            (
                1,
                BADGE_DLA,
                "Margaret",
                "Ann",
                "Okafor",
                dt.date(1950, 3, 14),
                "F",
                "1 Mill Lane",
                "Northtown",
                "NT1 1AA",
                10,
                "claimant",
            ),
            (
                2,
                "JK102036C",
                "Samuel",
                None,
                "Okafor",
                dt.date(1948, 7, 2),
                "M",
                "1 Mill Lane",
                "Northtown",
                "NT1 1AA",
                10,
                "partner",
            ),
            (
                3,
                PIP_LOW,
                "Daniel",
                None,
                "Price",
                dt.date(1985, 1, 9),
                "M",
                "4 High St",
                "Northtown",
                "NT2 4BB",
                11,
                "claimant",
            ),
            (
                4,
                PIP_MOVING,
                "Aisha",
                None,
                "Khan",
                dt.date(1979, 11, 30),
                "F",
                "9 Park Rd",
                "Northtown",
                "NT3 9CC",
                12,
                "claimant",
            ),
            (
                5,
                DLA_ENDED,
                "Robert",
                None,
                "Hughes",
                dt.date(1960, 5, 5),
                "M",
                "2 Elm Way",
                "Northtown",
                "NT4 2DD",
                13,
                "claimant",
            ),
            (
                6,
                PIP_DISTRESS,
                "Chloe",
                None,
                "Evans",
                dt.date(1992, 8, 21),
                "F",
                "5 Ash Ct",
                "Northtown",
                "NT5 5EE",
                14,
                "claimant",
            ),
        ]
        + [
            (
                100 + i,
                nino,
                "Test",
                None,
                f"Person{i}",
                dt.date(1970, 1, 1 + i),
                "M",
                None,
                None,
                "NT9 1AA",
                100 + i,
                "claimant",
            )
            for i, nino in enumerate(EXTRA)
        ]
        + [
            # Lives outside the test council's area, with no claim or case there.
            (
                200,
                OUTSIDER,
                "Olive",
                None,
                "Farr",
                dt.date(1961, 6, 6),
                "F",
                "9 Far Road",
                "Faraway",
                "ZZ1 1ZZ",
                200,
                "claimant",
            )
        ]
    )
    await dwp.executemany(
        """INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex,
               address_line1, town, postcode, household_id, household_role)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        persons,
    )
    awards = [
        # award_id, person_id, benefit, component, rate, weekly, start, end, moving_points, planning
        (1, 1, "DLA", "mobility", "higher", "77.05", PAST, None, None, None),
        (2, 1, "DLA", "care", "middle", "73.90", PAST, None, None, None),
        (3, 1, "PC", "guarantee", None, "45.10", PAST, None, None, None),
        (4, 3, "PIP", "mobility", "standard", "29.20", PAST, None, 4, "b"),
        (5, 3, "PIP", "daily_living", "standard", "73.90", PAST, None, None, None),
        (6, 4, "PIP", "mobility", "enhanced", "77.05", PAST, None, 12, "a"),
        (7, 5, "DLA", "mobility", "higher", "77.05", PAST, ENDED, None, None),
        (8, 6, "PIP", "mobility", "standard", "29.20", PAST, None, 0, "e"),
    ]
    await dwp.executemany(
        """INSERT INTO dwp.benefit_award (award_id, person_id, benefit, component, rate, weekly_amount, start_date,
               end_date, pip_moving_around_points, pip_planning_journeys_descriptor)
           VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10)""",
        awards,
    )
    await dwp.execute(
        """INSERT INTO dwp.declared_income VALUES (1, 1, 'occupational_pension', 112.40, $1);
           INSERT INTO dwp.declared_capital VALUES (1, 1, 'savings', 8250.00, $1)""".replace("$1", "'2025-04-01'")
    )
    await hb.execute(
        """INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1,
               postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, overnight_carer_room, start_date)
           VALUES ('HB0000001', 'E09000901', $1, 'Maggie', 'Okafor', '1950-03-14', '1 Mill Lane', 'NT1 1AA',
                   'social', 95.50, 80.00, 2, true, '2020-01-06')""",
        BADGE_DLA,
    )
    await hb.execute(
        """INSERT INTO hb.dhp_award VALUES (1, 'HB0000001', 'under_occupancy', 12.50, '2024-04-01', NULL);
           INSERT INTO hb.non_dependant VALUES (1, 'HB0000001', 'Tom', 'Okafor', '1990-02-02', 310.00)"""
    )
    await sc.executemany(
        """INSERT INTO social_care.client (client_id, council_code, nhs_number, nino, given_name, family_name,
               date_of_birth, postcode) VALUES ($1, 'E09000901', $2, $3, $4, $5, $6, $7)""",
        [
            ("SC000001", "9434765919", BADGE_DLA, "Margaret", "Okafor", dt.date(1950, 3, 14), "NT1 1AA"),
            ("SC000002", "9434765870", CARE_ONLY, "Peter", "Lewis", dt.date(1941, 6, 6), "NT6 6FF"),
        ],
    )
    await sc.execute(
        """INSERT INTO social_care.care_plan VALUES
               (1, 'SC000001', '2022-05-01', NULL, true, 14.0),
               (2, 'SC000002', '2021-01-01', NULL, false, 7.5),
               (3, 'SC000002', '2019-01-01', '2020-12-31', true, 20.0);
           INSERT INTO social_care.placement VALUES
               (1, 'SC000001', 'hospital', 'Northtown General', '2025-09-01', '2025-09-12');
           INSERT INTO social_care.financial_assessment VALUES
               (1, 'SC000001', '2025-06-01', 42.75, 'tariff')"""
    )
    return {"persons": persons}
