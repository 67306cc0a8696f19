"""Council adult social care source: care plans (private), placements, financial assessments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hub.types import SubjectKey
from resolvers.sources.contract import Ask, answer, merge_care
from resolvers.sources.demographics import PeopleTable
from resolvers.sources.pg import PgSource, json_date
from resolvers.sources.records import CarePlacement, CarePlan, FinancialAssessment, PlacementKind, SocialCareRecord

__all__ = ["SocialCareSource"]

_RECORD_SQL = """
SELECT {key} AS k, cl.client_id, cl.council_code,
       (SELECT coalesce(json_agg(json_build_object(
                   'start_date', p.start_date, 'end_date', p.end_date,
                   'overnight', p.overnight_care_required, 'hours', p.domiciliary_hours_per_week)
                   ORDER BY p.plan_id), '[]')
          FROM social_care.care_plan p WHERE p.client_id = cl.client_id) AS plans,
       (SELECT coalesce(json_agg(json_build_object(
                   'kind', pl.kind, 'admitted_on', pl.admitted_on, 'discharged_on', pl.discharged_on)
                   ORDER BY pl.admitted_on, pl.placement_id), '[]')
          FROM social_care.placement pl WHERE pl.client_id = cl.client_id) AS placements,
       (SELECT coalesce(json_agg(json_build_object(
                   'assessed_on', f.assessed_on, 'charge', f.weekly_assessed_charge,
                   'capital_band', f.capital_band) ORDER BY f.assessed_on, f.assessment_id), '[]')
          FROM social_care.financial_assessment f WHERE f.client_id = cl.client_id) AS assessments
  FROM social_care.client cl
 WHERE {where}
 ORDER BY cl.client_id
"""


def _client(row: Mapping[str, Any]) -> SocialCareRecord:
    council = row["council_code"]
    return SocialCareRecord(
        care_plans=tuple(
            CarePlan(
                start_date=json_date(p["start_date"]),
                end_date=json_date(p["end_date"]),
                overnight_care_required=p["overnight"],
                domiciliary_hours_per_week=p["hours"],
                council_code=council,
            )
            for p in row["plans"]
        ),
        placements=tuple(
            CarePlacement(
                kind=PlacementKind(p["kind"]),
                admitted_on=json_date(p["admitted_on"]),
                discharged_on=json_date(p["discharged_on"]),
                council_code=council,
            )
            for p in row["placements"]
        ),
        financial_assessments=tuple(
            FinancialAssessment(
                assessed_on=json_date(f["assessed_on"]),
                weekly_assessed_charge=f["charge"],
                capital_band=f["capital_band"],
                council_code=council,
            )
            for f in row["assessments"]
        ),
        council_codes=(council,),
    )


class SocialCareSource(PgSource):
    name = "social_care"
    youngest: ClassVar[int | None] = 16  # adult social care: 18, with transition assessments from 16
    people = PeopleTable(
        "social_care.client", "client_id", "nino", nhs_column="nhs_number", council_column="council_code"
    )

    record_sql = _RECORD_SQL
    key_by_kind: ClassVar[dict[str, tuple[str, str]]] = {
        "nino": ("upper(replace(cl.nino, ' ', ''))", "upper(replace(cl.nino, ' ', '')) = ANY($1::text[])"),
        "id": ("cl.client_id", "cl.client_id = ANY($1::text[])"),
    }

    async def fetch(self, keys: Sequence[SubjectKey], ask: Ask) -> list[SocialCareRecord | None]:
        return answer(
            self.name, await self.fetch_records(keys, lambda rows: merge_care([_client(r) for r in rows])), ask
        )
