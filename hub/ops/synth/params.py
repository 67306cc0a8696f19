"""What to generate: :class:`SynthParams`, the size, seed and error rates of a synthetic population."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.ops.synth import rates

__all__ = ["SynthParams"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthParams:
    """What to generate. Rates are probabilities in [0, 1]; see the module docstring for each one."""

    people: int
    seed: int
    hb_coverage: float = 0.30
    social_care_coverage: float = 0.15
    social_care_nino_present: float = 0.33
    nino_missing_rate: float = 0.05
    nino_mistyped_rate: float = 0.03
    nino_formatted_rate: float = 0.05
    nhs_number_missing_rate: float = 0.03
    name_typo_rate: float = 0.05
    nickname_rate: float = 0.10
    moved_address_rate: float = 0.05
    dob_swap_rate: float = 0.02
    # Dates of birth not known (NULL) or held as a placeholder, per kind of council record: see rates.py.
    hb_dob_missing_rate: float = rates.HB_DOB_MISSING
    hb_dob_placeholder_rate: float = rates.HB_DOB_PLACEHOLDER
    non_dependant_dob_missing_rate: float = rates.NON_DEPENDANT_DOB_MISSING
    non_dependant_dob_placeholder_rate: float = rates.NON_DEPENDANT_DOB_PLACEHOLDER
    social_care_dob_missing_rate: float = rates.SOCIAL_CARE_DOB_MISSING
    social_care_dob_placeholder_rate: float = rates.SOCIAL_CARE_DOB_PLACEHOLDER
    #: People go by middle names, change surname on marriage, carry Jnr/Snr, convention surnames and
    #: estimated dates of birth, and each system holds them its own way (hub.ops.synth.realities).
    name_realities: bool = True
    #: Share of people DWP holds a second record for, under the same NINO (rates.DWP_DUPLICATE).
    dwp_duplicate_rate: float = rates.DWP_DUPLICATE
    councils: tuple[str, ...] = ("E09000901", "E09000902", "E09000903")
    reference_date: date = date(2026, 11, 1)

    def __post_init__(self) -> None:
        # Every problem at once, so a bad benchmark configuration is fixed in one go.
        problems: list[str] = []
        if self.people < 0:
            problems.append("people must be zero or more")
        for name in (
            "hb_coverage",
            "social_care_coverage",
            "social_care_nino_present",
            "nino_missing_rate",
            "nino_mistyped_rate",
            "nino_formatted_rate",
            "nhs_number_missing_rate",
            "name_typo_rate",
            "nickname_rate",
            "moved_address_rate",
            "dob_swap_rate",
            "hb_dob_missing_rate",
            "hb_dob_placeholder_rate",
            "non_dependant_dob_missing_rate",
            "non_dependant_dob_placeholder_rate",
            "social_care_dob_missing_rate",
            "social_care_dob_placeholder_rate",
            "dwp_duplicate_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        for kind in ("hb", "non_dependant", "social_care"):
            if getattr(self, f"{kind}_dob_missing_rate") + getattr(self, f"{kind}_dob_placeholder_rate") > 1.0:
                problems.append(f"{kind}_dob_missing_rate and {kind}_dob_placeholder_rate must add up to at most 1")
        if not self.councils:
            problems.append("councils must name at least one council code")
        if len(set(self.councils)) != len(self.councils):
            problems.append("councils must not repeat a code")
        if problems:
            raise ValueError("invalid SynthParams: " + "; ".join(problems))
