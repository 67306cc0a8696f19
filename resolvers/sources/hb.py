"""Council Housing Benefit source: claims with their DHP awards and non-dependant count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hub.types import SubjectKey
from resolvers.sources.base import PgSource, json_date
from resolvers.sources.demographics import PeopleTable
from resolvers.types import DhpAward, HousingBenefitClaim, HousingBenefitRecord, TenancyType

__all__ = ["HousingBenefitSource"]

_RECORD_SQL = """
SELECT {key} AS k, c.claim_ref, c.council_code, c.tenancy_type, c.weekly_rent,
       c.weekly_award,
       c.bedroom_entitlement, c.overnight_carer_room, c.start_date, c.end_date,
       (SELECT coalesce(json_agg(json_build_object(
                   'reason', d.reason, 'weekly_amount', d.weekly_amount,
                   'start_date', d.start_date, 'end_date', d.end_date) ORDER BY d.dhp_id), '[]')
          FROM hb.dhp_award d WHERE d.claim_ref = c.claim_ref) AS dhp,
       (SELECT count(*) FROM hb.non_dependant n WHERE n.claim_ref = c.claim_ref) AS non_dependants
  FROM hb.claim c
 WHERE {where}
 ORDER BY c.start_date, c.claim_ref
"""


def _claim(row: Mapping[str, Any]) -> HousingBenefitClaim:
    return HousingBenefitClaim(
        claim_ref=row["claim_ref"],
        council_code=row["council_code"],
        tenancy_type=TenancyType(row["tenancy_type"]),
        weekly_rent=row["weekly_rent"],
        weekly_award=row["weekly_award"],
        bedroom_entitlement=row["bedroom_entitlement"],
        overnight_carer_room=row["overnight_carer_room"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        dhp_awards=[
            DhpAward(
                reason=d["reason"],
                weekly_amount=d["weekly_amount"],
                start_date=json_date(d["start_date"]) or row["start_date"],
                end_date=json_date(d["end_date"]),
            )
            for d in row["dhp"]
        ],
        non_dependant_count=row["non_dependants"],
    )


class HousingBenefitSource(PgSource):
    name = "hb"
    people = PeopleTable(
        "hb.claim",
        "claim_ref",
        "nino",
        council_column="council_code",
        # A claim ties its claimant to the council while open, and for a year after (appeals, recovery).
        council_current="(t.end_date IS NULL OR t.end_date >= current_date - 365)",
    )

    record_sql = _RECORD_SQL
    key_by_kind: ClassVar[dict[str, tuple[str, str]]] = {
        # Council systems keep the NINO as typed: match on its normalised form (indexed).
        "nino": ("upper(replace(c.nino, ' ', ''))", "upper(replace(c.nino, ' ', '')) = ANY($1::text[])"),
        "id": ("c.claim_ref", "c.claim_ref = ANY($1::text[])"),
    }

    def build(self, rows: Sequence[Any]) -> HousingBenefitRecord:
        return HousingBenefitRecord(claims=[_claim(r) for r in rows])

    async def open_claims(self, keys: Sequence[SubjectKey]) -> list[tuple[str, str]]:
        """(claim ref, council) of the open claims these keys name: where a change of circumstance goes."""
        out: dict[str, str] = {}
        for kind, column in (("id", "claim_ref"), ("nino", "nino")):
            values = [str(v) for k, v in keys if k == kind]
            if values:
                for row in await self._fetch(
                    f"SELECT claim_ref, council_code FROM hb.claim WHERE {column} = ANY($1::text[]) "  # noqa: S608
                    "AND (end_date IS NULL OR end_date >= current_date) ORDER BY claim_ref",
                    values,
                ):
                    out[row["claim_ref"]] = row["council_code"]
        return sorted(out.items())
