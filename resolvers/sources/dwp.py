"""DWP benefits source: person, awards in payment, declared income and capital, household; and DWP's inbox
for changes of circumstance the hub delivers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hub.types import SubjectKey
from resolvers.sources.base import InboxChange
from resolvers.sources.contract import Ask, answer
from resolvers.sources.demographics import PeopleTable
from resolvers.sources.pg import PgSource, json_date
from resolvers.sources.records import (
    Address,
    Benefit,
    BenefitAward,
    DeclaredCapital,
    DeclaredIncome,
    DwpRecord,
    HouseholdMember,
    PersonName,
)

__all__ = ["DwpSource"]

# One round trip for any number of people: child rows are aggregated per person in the same statement.
_RECORD_SQL = """
SELECT {key} AS k, p.given_name, p.middle_names, p.family_name, p.date_of_birth,
       p.address_line1, p.address_line2, p.town, p.postcode, p.address_protected,
       (SELECT coalesce(json_agg(json_build_object(
                   'benefit', a.benefit, 'component', a.component, 'rate', a.rate,
                   'weekly_amount', a.weekly_amount, 'start_date', a.start_date, 'end_date', a.end_date,
                   'moving_around', a.pip_moving_around_points,
                   'planning', a.pip_planning_journeys_descriptor) ORDER BY a.award_id), '[]')
          FROM dwp.benefit_award a
         WHERE a.person_id = p.person_id AND a.start_date <= current_date
           AND (a.end_date IS NULL OR a.end_date >= current_date)) AS awards,
       (SELECT coalesce(json_agg(json_build_object(
                   'kind', i.kind, 'weekly_amount', i.weekly_amount, 'declared_on', i.declared_on)
                   ORDER BY i.income_id), '[]')
          FROM dwp.declared_income i WHERE i.person_id = p.person_id) AS income,
       (SELECT coalesce(json_agg(json_build_object(
                   'kind', c.kind, 'amount', c.amount, 'declared_on', c.declared_on)
                   ORDER BY c.capital_id), '[]')
          FROM dwp.declared_capital c WHERE c.person_id = p.person_id) AS capital,
       (SELECT coalesce(json_agg(json_build_object(
                   'relationship', m.household_role, 'given_name', m.given_name,
                   'middle_names', m.middle_names, 'family_name', m.family_name,
                   'date_of_birth', m.date_of_birth) ORDER BY m.person_id), '[]')
          FROM dwp.person m
         WHERE m.household_id = p.household_id AND m.person_id <> p.person_id) AS household
  FROM dwp.person p
 WHERE {where}
"""


_INBOX = (
    "INSERT INTO dwp.hub_inbox (item_id, notification_id, kind, effective_date, person_id, sender_org_type) "
    "VALUES ($1, $2, $3, $4, $5::text::bigint, $6) ON CONFLICT (item_id) DO NOTHING"
)


def _held_once(rows: Sequence[Mapping[str, Any]]) -> DwpRecord | None:
    """The record a key names, if it names one. A NINO on more than one DWP record (the spine holds
    duplicates, migration 0007) names no one by itself: which record, or whether they are one person, is
    the link index's decision (``hub.link``, by record id), so here neither record is answered by it."""
    return _record(rows) if len(rows) == 1 else None


def _record(rows: Sequence[Mapping[str, Any]]) -> DwpRecord:
    row = rows[0]  # a person id names one DWP record
    return DwpRecord(
        name=PersonName(given_name=row["given_name"], middle_names=row["middle_names"], family_name=row["family_name"]),
        date_of_birth=row["date_of_birth"],
        address_protected=row["address_protected"],
        held_address=Address(
            line1=row["address_line1"], line2=row["address_line2"], town=row["town"], postcode=row["postcode"]
        ),
        awards_in_payment=tuple(
            BenefitAward(
                benefit=Benefit(a["benefit"]),
                component=a["component"],
                rate=a["rate"],
                weekly_amount=a["weekly_amount"],
                start_date=json_date(a["start_date"]),
                end_date=json_date(a["end_date"]),
                pip_moving_around_points=a["moving_around"],
                pip_planning_journeys_descriptor=a["planning"],
            )
            for a in row["awards"]
        ),
        declared_income=tuple(
            DeclaredIncome(kind=i["kind"], weekly_amount=i["weekly_amount"], declared_on=json_date(i["declared_on"]))
            for i in row["income"]
        ),
        declared_capital=tuple(
            DeclaredCapital(kind=c["kind"], amount=c["amount"], declared_on=json_date(c["declared_on"]))
            for c in row["capital"]
        ),
        household_members=tuple(
            HouseholdMember(
                relationship=m["relationship"] or "member",
                name=PersonName(
                    given_name=m["given_name"], middle_names=m["middle_names"], family_name=m["family_name"]
                ),
                date_of_birth=json_date(m["date_of_birth"]),
            )
            for m in row["household"]
        ),
    )


class DwpSource(PgSource):
    name = "dwp"
    people = PeopleTable("dwp.person", "person_id", "nino", id_type="bigint", address_line2=True, nino_normalised=True)

    record_sql = _RECORD_SQL
    key_by_kind: ClassVar[dict[str, tuple[str, str]]] = {
        "nino": ("p.nino", "p.nino = ANY($1::text[])"),
        "id": ("p.person_id::text", "p.person_id = ANY($1::bigint[])"),
    }

    async def fetch(self, keys: Sequence[SubjectKey], ask: Ask) -> list[DwpRecord | None]:
        return answer(self.name, await self.fetch_records(keys, _held_once), ask)

    async def people_of(self, keys: Sequence[SubjectKey], ask: Ask | None = None) -> list[tuple[str, dt.date]]:
        """(person id, date of birth) of the DWP people these keys name."""
        out: dict[str, dt.date] = {}
        for kind, sql in (
            ("id", "SELECT person_id::text AS id, date_of_birth FROM dwp.person WHERE person_id = ANY($1::bigint[])"),
            ("nino", "SELECT person_id::text AS id, date_of_birth FROM dwp.person WHERE nino = ANY($1::text[])"),
        ):
            values: list[Any] = [v for k, v in keys if k == kind]
            if kind == "id":
                values = [int(str(v)) for v in values if str(v).isdigit()]
            if values:
                for row in await self._fetch(sql, values):
                    out[row["id"]] = row["date_of_birth"]
        return sorted(out.items())

    async def homes(self, person_ids: Sequence[str], ask: Ask | None = None) -> dict[str, tuple[str, ...]]:
        """Where each person lives, as keys to compare (never shown): their household, and their postcode
        with the first line of their address, normalised. For the auditors' same-address check."""
        ids = [int(i) for i in person_ids if i.isdigit()]
        rows = await self._fetch(
            "SELECT person_id::text AS id, household_id::text AS household, "
            "upper(regexp_replace(coalesce(postcode, ''), '\\s', '', 'g')) AS postcode, "
            "upper(regexp_replace(coalesce(address_line1, ''), '[^A-Za-z0-9]', '', 'g')) AS line1 "
            "FROM dwp.person WHERE person_id = ANY($1::bigint[])",
            ids,
        )
        return {
            r["id"]: tuple(
                k
                for k in (
                    f"household:{r['household']}" if r["household"] else "",
                    f"address:{r['postcode']}/{r['line1']}" if r["postcode"] and r["line1"] else "",
                )
                if k
            )
            for r in rows
        }

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes of circumstance into DWP's inbox, in one transaction: keyed by the hub's delivery id,
        so a delivery repeated after a fault lands once. DWP learns no council: nothing to report back."""
        rows = [
            (c.delivery_id, c.notification_id, c.kind, c.effective_date, c.target_ref, c.sender_org_type)
            for c in changes
        ]

        async def work(conn: Any) -> dict[str, str]:
            await conn.executemany(_INBOX, rows)
            return {}

        return await self._write(work)
