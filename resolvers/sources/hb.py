"""Council Housing Benefit source: claims with their DHP awards and non-dependant count; and the HB teams'
inbox for changes of circumstance the hub delivers.

Every member of a claim is a person record (migration 0008): the claimant (record id the claim reference),
each partner ('<claim>/P<id>') and each non-dependant ('<claim>/N<id>'). A claim is its claimant's and its
current partner's (they claim jointly): a fetch by either's record id or NINO answers it, their record ties
them to the council, and a change about them goes to the claim. A non-dependant's record, or a former
partner's, is linked like any other (it names the person to the hub) and does nothing more: the claim is
not theirs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hub.types import SubjectKey
from resolvers.sources.base import InboxChange
from resolvers.sources.contract import Ask, answer
from resolvers.sources.demographics import PeopleTable
from resolvers.sources.pg import PgSource, json_date
from resolvers.sources.records import DhpAward, HousingBenefitClaim, HousingBenefitRecord, TenancyType

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
  FROM hb.claim_holder m JOIN hb.claim c ON c.claim_ref = m.claim_ref
 WHERE {where}
 ORDER BY c.start_date, c.claim_ref
"""


_INBOX = (
    "INSERT INTO hb.hub_inbox (item_id, notification_id, kind, effective_date, claim_ref, council_code, "
    "sender_org_type) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (item_id) DO NOTHING"
)


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
        dhp_awards=tuple(
            DhpAward(
                reason=d["reason"],
                weekly_amount=d["weekly_amount"],
                start_date=json_date(d["start_date"]) or row["start_date"],
                end_date=json_date(d["end_date"]),
            )
            for d in row["dhp"]
        ),
        non_dependant_count=row["non_dependants"],
    )


class HousingBenefitSource(PgSource):
    name = "hb"
    youngest: ClassVar[int | None] = 16
    people = PeopleTable(
        "hb.claim_person",
        "record_ref",
        "nino",
        council_column="council_code",
        holders="hb.claim_holder",
        # A claim ties its members to the council while open, and for a year after (appeals, recovery).
        council_current="(t.end_date IS NULL OR t.end_date >= current_date - 365)",
    )

    record_sql = _RECORD_SQL
    key_by_kind: ClassVar[dict[str, tuple[str, str]]] = {
        # Council systems keep the NINO as typed: match on its normalised form (indexed).
        "nino": ("upper(replace(m.nino, ' ', ''))", "upper(replace(m.nino, ' ', '')) = ANY($1::text[])"),
        "id": ("m.record_ref", "m.record_ref = ANY($1::text[])"),
    }

    async def fetch(self, keys: Sequence[SubjectKey], ask: Ask) -> list[HousingBenefitRecord | None]:
        return answer(
            self.name,
            await self.fetch_records(
                keys,
                # One claim once, though the key names it twice (a partner's record with the claimant's NINO).
                lambda rows: HousingBenefitRecord(
                    claims=tuple(_claim(r) for r in {r["claim_ref"]: r for r in rows}.values())
                ),
            ),
            ask,
        )

    async def open_claims(self, keys: Sequence[SubjectKey], ask: Ask | None = None) -> list[tuple[str, str]]:
        """(claim ref, council) of the open claims these keys name, as claimant or partner: where a change
        of circumstance goes. (A non-dependant's change is not the claim's to hear of from the hub: the
        claim's team could not tell it from the claimant's.)"""
        out: dict[str, str] = {}
        for kind, column in (("id", "m.record_ref"), ("nino", "upper(replace(m.nino, ' ', ''))")):
            values = [str(v) for k, v in keys if k == kind]
            if values:
                for row in await self._fetch(
                    f"SELECT m.claim_ref, m.council_code FROM hb.claim_holder m WHERE {column} = ANY($1::text[]) "  # noqa: S608
                    "AND (m.end_date IS NULL OR m.end_date >= current_date) ORDER BY m.claim_ref",
                    values,
                ):
                    out[row["claim_ref"]] = row["council_code"]
        return sorted(out.items())

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes of circumstance into the HB teams' inbox, in one transaction, each once (keyed by the
        hub's delivery id). A change routed while HB did not answer has no council yet: it is read here, and
        returned (claim ref -> council) for the hub to record. A claim HB no longer holds has no team to
        tell: nothing lands for it."""

        async def work(conn: Any) -> dict[str, str]:
            councils: dict[str, str] = {}
            claims: dict[str, str] = {}
            unknown = [c.target_ref for c in changes if c.council_code is None]
            if unknown:
                # Routed from the link index while HB did not answer: a claimant's or partner's record id,
                # whose claim is read here (a non-dependant's names no claim to tell).
                found = await conn.fetch(
                    "SELECT record_ref, claim_ref, council_code FROM hb.claim_holder "
                    "WHERE record_ref = ANY($1::text[])",
                    unknown,
                )
                councils = {f["record_ref"]: f["council_code"] for f in found}
                claims = {f["record_ref"]: f["claim_ref"] for f in found}
            rows = [
                (
                    c.delivery_id,
                    c.notification_id,
                    c.kind,
                    c.effective_date,
                    claims.get(c.target_ref, c.target_ref),
                    council,
                    c.sender_org_type,
                )
                for c in changes
                if (council := c.council_code or councils.get(c.target_ref)) is not None
            ]
            await conn.executemany(_INBOX, rows)
            return councils

        return await self._write(work)
