"""The transparency report in GraphQL: how the hub was used in a period and how its safeguards worked,
for publication: counts only, never who or about whom. Answered to any registered caller here (it needs no
purpose: resolvers.notice.PUBLIC_ROOTS), and to anyone, with no token, at GET /transparency (hub.http).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.arguments import public_period
from resolvers.context import RequestContext
from resolvers.sensitivity import tier

__all__ = ["TransparencyQuery", "TransparencyReport", "transparency_report"]


@strawberry.type(description="How many operations ended how.", directives=tier("identity"))
class DecisionCounts:
    key: str = strawberry.field(description="The purpose or organisation type.")
    released: int = strawberry.field(description="Answered in full.")
    partial: int = strawberry.field(description="Answered in part (a source did not answer).")
    refused: int = strawberry.field(description="Refused.")
    error: int = strawberry.field(description="Failed.")


@strawberry.type(description="A count.", directives=tier("identity"))
class Count:
    key: str = strawberry.field(description="What was counted.")
    count: int = strawberry.field(description="How many.")


@strawberry.type(
    description="How the hub was used in a period and how its safeguards worked, for publication.",
    directives=tier("identity"),
)
class TransparencyReport:
    since: dt.datetime = strawberry.field(description="Start of the period (inclusive).")
    until: dt.datetime = strawberry.field(description="End of the period (exclusive).")
    requests: int = strawberry.field(description="Operations.")
    releases: int = strawberry.field(description="Operations that released data.")
    refusals: int = strawberry.field(description="Operations refused.")
    errors: int = strawberry.field(description="Operations that failed.")
    consent_refusals: int = strawberry.field(description="Refused for want of the person's consent.")
    by_purpose: list[DecisionCounts] = strawberry.field(description="Per purpose.")
    by_organisation_type: list[DecisionCounts] = strawberry.field(description="Per organisation type.")
    refusal_reasons: list[Count] = strawberry.field(
        description="Per reason, as the callers were told it (the error code they saw)."
    )
    linkage_methods: list[Count] = strawberry.field(description="How people were found.")
    linkage_bands: list[Count] = strawberry.field(
        description="Lookups by demographics (no NINO): link, or not_linked (no one, or not certain)."
    )
    review_items: list[Count] = strawberry.field(description="Uncertain matches queued for a person, by outcome.")


def _decisions(grouped: dict[str, dict[str, int]]) -> list[DecisionCounts]:
    return [
        DecisionCounts(
            key=key,
            released=counts.get("released", 0),
            partial=counts.get("partial", 0),
            refused=counts.get("refused", 0),
            error=counts.get("error", 0),
        )
        for key, counts in sorted(grouped.items())
    ]


def transparency_report(data: dict[str, Any]) -> TransparencyReport:
    return TransparencyReport(
        since=data["since"],
        until=data["until"],
        requests=data["requests"],
        releases=data["releases"],
        refusals=data["refusals"],
        errors=data["errors"],
        consent_refusals=data["consent_refusals"],
        by_purpose=_decisions(data["by_purpose"]),
        by_organisation_type=_decisions(data["by_org_type"]),
        refusal_reasons=[Count(key=k, count=v) for k, v in data["refusal_reasons"].items()],
        linkage_methods=[Count(key=k, count=v) for k, v in data["linkage_methods"].items()],
        linkage_bands=[Count(key=k, count=v) for k, v in data["linkage_bands"].items()],
        review_items=[Count(key=k, count=v) for k, v in data["review_items"].items()],
    )


@strawberry.type(directives=tier("identity"))
class TransparencyQuery:
    @strawberry.field(description="Counts for publication: requests, releases and refusals per purpose and more.")
    async def transparency_report(
        self,
        info: Info[RequestContext, None],
        since: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="The first day of the period: a midnight (UTC), inclusive; null for 30 days before until."
            ),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="The end of the period: a midnight (UTC), exclusive, no "
                "later than today's; null for today's midnight."
            ),
        ] = None,
    ) -> TransparencyReport:
        start, end = public_period(since, until)
        return transparency_report(await info.context.services.audit_log.transparency(start, end))
