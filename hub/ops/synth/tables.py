"""The table layout of the three source databases: :data:`COLUMNS`, :data:`DATABASES` and :class:`SynthData`.

Every row :func:`hub.ops.synth.generate` makes is a :data:`Row` in the column order of the migrations;
:class:`SynthData` holds them per source database, with the ground truth (:data:`TRUTH_TABLE`) and
the errors injected into each council record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from hub.ops.synth.params import SynthParams

__all__ = ["COLUMNS", "DATABASES", "TRUTH_TABLE", "Row", "SynthData", "Table"]


Row = tuple[object, ...]
TRUTH_TABLE: Final = "synth_truth.record_identity"

#: Column order of every table, exactly as in ``hub/migrations/src_*/`` (0001_init.sql, then the columns
#: later migrations added, in order).
COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "dwp.person": (
        "person_id", "nino", "title", "given_name", "middle_names", "family_name", "date_of_birth", "sex",
        "address_line1", "address_line2", "town", "postcode", "household_id", "household_role",
        "date_of_death", "known_as", "name_suffix", "previous_family_names",
    ),
    "dwp.benefit_award": (
        "award_id", "person_id", "benefit", "component", "rate", "weekly_amount", "start_date", "end_date",
        "pip_moving_around_points", "pip_planning_journeys_descriptor",
    ),
    "dwp.declared_income": ("income_id", "person_id", "kind", "weekly_amount", "declared_on"),
    "dwp.declared_capital": ("capital_id", "person_id", "kind", "amount", "declared_on"),
    "hb.claim": (
        "claim_ref", "council_code", "nino", "given_name", "family_name", "date_of_birth", "address_line1",
        "town", "postcode", "tenancy_type", "weekly_rent", "weekly_award", "bedroom_entitlement",
        "overnight_carer_room", "start_date", "end_date", "middle_names", "known_as", "name_suffix",
        "previous_family_names",
    ),
    "hb.dhp_award": ("dhp_id", "claim_ref", "reason", "weekly_amount", "start_date", "end_date"),
    "hb.partner": (
        "partner_id", "claim_ref", "left_on", "nino", "given_name", "family_name", "date_of_birth",
        "middle_names", "known_as", "name_suffix", "previous_family_names",
    ),
    "hb.non_dependant": (
        "non_dependant_id", "claim_ref", "given_name", "family_name", "date_of_birth", "gross_weekly_income",
        "nino", "middle_names", "known_as", "name_suffix", "previous_family_names",
    ),
    "social_care.client": (
        "client_id", "council_code", "nhs_number", "nino", "given_name", "family_name", "date_of_birth",
        "address_line1", "town", "postcode", "middle_names", "known_as", "name_suffix", "previous_family_names",
    ),
    "social_care.care_plan": (
        "plan_id", "client_id", "start_date", "end_date", "overnight_care_required",
        "domiciliary_hours_per_week",
    ),
    "social_care.placement": ("placement_id", "client_id", "kind", "provider", "admitted_on", "discharged_on"),
    "social_care.financial_assessment": (
        "assessment_id", "client_id", "assessed_on", "weekly_assessed_charge", "capital_band",
    ),
    TRUTH_TABLE: ("record_id", "true_person_id", "true_nino"),
}  # fmt: skip

#: The tables of each source database, parents before children (the order to load them in).
DATABASES: Final[Mapping[str, tuple[str, ...]]] = {
    "src_dwp": ("dwp.person", "dwp.benefit_award", "dwp.declared_income", "dwp.declared_capital", TRUTH_TABLE),
    "src_hb": ("hb.claim", "hb.dhp_award", "hb.partner", "hb.non_dependant", TRUTH_TABLE),
    "src_social_care": (
        "social_care.client",
        "social_care.care_plan",
        "social_care.placement",
        "social_care.financial_assessment",
        TRUTH_TABLE,
    ),
}


class Table(NamedTuple):
    """Rows of one table, each a tuple in ``columns`` order."""

    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class SynthData:
    """Everything :func:`generate` made.

    ``databases`` maps a source database key (``src_dwp``, ``src_hb``, ``src_social_care``) to its
    tables keyed ``schema.table``, in load order, truth table last. ``perturbations`` maps a council
    record id (``hb:HB000123``, ``hb:HB000123/P5`` its partner, ``hb:HB000123/N17`` a non-dependant,
    ``sc:SC000045``) to the errors injected into it; records keyed exactly as the truth are absent.
    """

    params: SynthParams
    databases: Mapping[str, Mapping[str, Table]]
    perturbations: Mapping[str, frozenset[str]]

    @property
    def tables(self) -> dict[str, Table]:
        """The source tables (not the truth), keyed ``schema.table``, e.g. ``dwp.person``."""
        return {
            name: table for tables in self.databases.values() for name, table in tables.items() if name != TRUTH_TABLE
        }

    @property
    def truth(self) -> dict[str, Table]:
        """``synth_truth.record_identity`` of each source database, keyed by database key."""
        return {database: tables[TRUTH_TABLE] for database, tables in self.databases.items()}

    def row_counts(self) -> dict[str, int]:
        """Rows per table keyed ``database.schema.table``: what :func:`hub.ops.synth.load` reports."""
        return {
            f"{database}.{name}": len(table.rows)
            for database, tables in self.databases.items()
            for name, table in tables.items()
        }
