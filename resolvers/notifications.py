"""Changes of circumstance in GraphQL: social care (and ALMOs, for their tenants) tell the hub that a person
went into or left hospital or a care home; the hub links the person and delivers the change to DWP and to
the HB team of each council with an open claim, nothing more than the change needs (no health detail).

The sender learns only what happened to its notification (accepted or sent for review, and each delivery's
status), never anything about the person. However the person is named (a NINO, details, or both), "no such
person" and "not connected with the sender" give one answer, SUBJECT_NOT_FOUND with one message, and
nothing is recorded (the audit record keeps the true reason); details that fit more than one person are
held for review only when one of the people they could be is the sender's to tell about. The idempotency
key is the sender's own identifier: one holding a NINO is refused (NINO_IN_FREE_TEXT).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.freetext import refuse_nino
from hub.errors import BadUserInput, InvalidEffectiveDate, NoLegitimateRelationship, SourceError, SubjectNotFound
from hub.records.notifications import Accepted, Target
from hub.types import SubjectKey
from linkage import Band, Demographics
from linkage.link import person_key_for
from resolvers import arguments
from resolvers.context import RequestContext
from resolvers.identity import match_demographics
from resolvers.relationship import council_held, records_of, require_relationship
from resolvers.sensitivity import tier
from resolvers.types import Purpose, PurposeArgument, describe_values

__all__ = [
    "ChangeKind",
    "DeliveryStatus",
    "DeliveryTarget",
    "NotificationMutation",
    "NotificationQuery",
    "NotificationStatus",
]


@strawberry.enum(description="A change of circumstance that can affect benefits.")
class ChangeKind(Enum):
    HOSPITAL_ADMISSION = "hospital_admission"
    HOSPITAL_DISCHARGE = "hospital_discharge"
    CARE_HOME_ADMISSION = "care_home_admission"
    CARE_HOME_DISCHARGE = "care_home_discharge"
    OVERNIGHT_CARE_STARTED = "overnight_care_started"
    OVERNIGHT_CARE_ENDED = "overnight_care_ended"


describe_values(
    ChangeKind,
    {
        ChangeKind.HOSPITAL_ADMISSION: "The person went into hospital.",
        ChangeKind.HOSPITAL_DISCHARGE: "The person left hospital.",
        ChangeKind.CARE_HOME_ADMISSION: "The person went into a care home.",
        ChangeKind.CARE_HOME_DISCHARGE: "The person left a care home.",
        ChangeKind.OVERNIGHT_CARE_STARTED: "The person's care plan now includes overnight care.",
        ChangeKind.OVERNIGHT_CARE_ENDED: "The person's care plan no longer includes overnight care.",
    },
)


@strawberry.enum(description="What the hub did with a notification.")
class NotificationStatus(Enum):
    ACCEPTED = "accepted"
    REVIEW = "review"


describe_values(
    NotificationStatus,
    {
        NotificationStatus.ACCEPTED: "The person was linked: the deliveries follow.",
        NotificationStatus.REVIEW: "No certain match: a person decides, and nothing is delivered meanwhile.",
    },
)


@strawberry.enum(description="Whose inbox a notification is delivered to.")
class DeliveryTarget(Enum):
    DWP = "dwp"
    HB = "hb"


describe_values(
    DeliveryTarget,
    {
        DeliveryTarget.DWP: "DWP.",
        DeliveryTarget.HB: "A council's Housing Benefit team (the delivery's councilCode says which).",
    },
)


@strawberry.enum(description="How far one delivery of a notification got.")
class DeliveryStatus(Enum):
    PENDING = "pending"
    DELIVERED = "delivered"


describe_values(
    DeliveryStatus,
    {
        DeliveryStatus.PENDING: "Not landed yet: retried until it does.",
        DeliveryStatus.DELIVERED: "In the team's inbox.",
    },
)

#: Which purpose may send which kinds, and where each goes: a stay in hospital or a care home to DWP and
#: HB; overnight care (whether a carer's bedroom is needed) to the HB team alone.
_KINDS_OF = {
    Purpose.CHANGE_NOTIFICATION: frozenset(
        {
            ChangeKind.HOSPITAL_ADMISSION,
            ChangeKind.HOSPITAL_DISCHARGE,
            ChangeKind.CARE_HOME_ADMISSION,
            ChangeKind.CARE_HOME_DISCHARGE,
        }
    ),
    Purpose.OVERNIGHT_CARE_CONFIRMATION: frozenset(
        {ChangeKind.OVERNIGHT_CARE_STARTED, ChangeKind.OVERNIGHT_CARE_ENDED}
    ),
}
_HB_ONLY = frozenset({ChangeKind.OVERNIGHT_CARE_STARTED, ChangeKind.OVERNIGHT_CARE_ENDED})


@strawberry.input(description="Who the person is, when there is no NINO.")
class NotifiedPerson:
    given_name: str | None = strawberry.field(default=None, description="First name; null if not known.")
    family_name: str | None = strawberry.field(default=None, description="Surname; null if not known.")
    date_of_birth: dt.date | None = strawberry.field(default=None, description="Date of birth; null if not known.")
    postcode: str | None = strawberry.field(
        default=None, description="Postcode of the current address; null if not known."
    )
    address_line1: str | None = strawberry.field(
        default=None, description="First line of the current address; null if not known."
    )


@strawberry.type(description="One delivery of a notification to a team's inbox.", directives=tier("special_category"))
class NotificationDelivery:
    target: DeliveryTarget = strawberry.field(description="Whose inbox it goes to.")
    council_code: str | None = strawberry.field(description="For HB: the council whose team receives it.")
    status: DeliveryStatus = strawberry.field(description="How far it got.")
    attempts: int = strawberry.field(description="Delivery attempts so far.")
    delivered_at: dt.datetime | None = strawberry.field(description="When it landed.")


@strawberry.type(description="A change of circumstance as the hub recorded it.", directives=tier("special_category"))
class Notification:
    notification_id: strawberry.ID = strawberry.field(description="The hub's id for it.")
    status: NotificationStatus = strawberry.field(description="What the hub did with it.")
    kind: ChangeKind = strawberry.field(description="What changed.")
    effective_date: dt.date = strawberry.field(description="When it took effect.")
    created_at: dt.datetime = strawberry.field(description="When the hub accepted it.")
    replayed: bool = strawberry.field(description="True when this answers a repeat of an idempotency key already used.")
    deliveries: list[NotificationDelivery] = strawberry.field(description="Where it goes, and how far it got.")


def _notification(a: Accepted, ours: Callable[[str | None], bool]) -> Notification:
    """The notification as its sender may see it: the deliveries to DWP and to the councils whose records
    the sender may be given (its own); that another council holds a claim is that council's to say."""
    return Notification(
        notification_id=strawberry.ID(str(a.notification_id)),
        status=NotificationStatus(a.status),
        kind=ChangeKind(a.kind),
        effective_date=a.effective_date,
        created_at=a.created_at,
        replayed=a.replayed,
        deliveries=[
            NotificationDelivery(
                target=DeliveryTarget(d.target),
                council_code=d.council_code,
                status=DeliveryStatus(d.status),
                attempts=d.attempts,
                delivered_at=d.delivered_at,
            )
            for d in a.deliveries
            if d.target != "hb" or ours(d.council_code)
        ],
    )


#: Every source a sender's tie with the person may come from (a claim, a case or a home in its area).
_TIE_SOURCES = ("dwp", "hb", "social_care")


async def _records_of(ctx: RequestContext, spine_record_id: str) -> dict[str, list[SubjectKey]]:
    """Every record key of the person whose DWP record this is."""
    return {s: [("id", r) for r in ids] for s, ids in (await records_of(ctx, spine_record_id)).items()}


async def _require_some_tie(ctx: RequestContext, spine_record_ids: Sequence[str]) -> None:
    """Raise NoLegitimateRelationship (answered as "not found") unless the sender is connected with at least
    one of these people: "someone nearly matches" is itself an answer about who exists."""
    for spine_record_id in spine_record_ids:
        try:
            await require_relationship(ctx, await _records_of(ctx, spine_record_id), sources=_TIE_SOURCES)
        except NoLegitimateRelationship:
            continue
        return
    raise NoLegitimateRelationship("none of the people the details could be is connected with the sender's area")


async def _link(
    ctx: RequestContext, nino: str | None, person: NotifiedPerson | None
) -> tuple[str | None, dt.date | None, dict[str, list[SubjectKey]]]:
    """The DWP person id, their date of birth when the linking read it, and every record key of the person;
    (None, None, {}) when the details fit more than one person the sender may tell about (held for review).
    SUBJECT_NOT_FOUND when no one is named (DWP, the spine, holds every NINO: one it does not hold names no
    one a reviewer could find)."""
    if nino is not None:
        keyed = arguments.nino(nino)
        ctx.subjects.append(ctx.services.key_ring.hash_nino(keyed))
        indexed = await ctx.index_loader().load(keyed)
        if indexed is not None and indexed.records.get("dwp"):
            keys: dict[str, list[SubjectKey]] = {s: [("id", r) for r in ids] for s, ids in indexed.records.items()}
            return indexed.records["dwp"][0], None, keys
        # The DWP record id only: the date of birth is read once the sender's tie is shown (below).
        found = await ctx.services.sources.dwp.record_ids(keyed, await ctx.ask())
        if found:
            person_id = found[0]
            return person_id, None, {"dwp": [("id", person_id)], "hb": [("nino", keyed)]}
        if person is None:
            raise SubjectNotFound("DWP holds no one with this NINO")
    assert person is not None
    query = Demographics(
        given_name=person.given_name,
        family_name=person.family_name,
        dob=person.date_of_birth,
        postcode=person.postcode,
        address_line1=person.address_line1,
    )
    decision, _ = await match_demographics(ctx, query)  # the lookups' own linkage step
    if decision.band is Band.REVIEW:
        await _require_some_tie(ctx, [c.spine_record_id for c in decision.review or (decision.chosen,) if c])
        return None, None, {}
    if decision.band is not Band.LINK or decision.chosen is None:
        raise SubjectNotFound("the details name no one for certain, or no one")
    chosen = decision.chosen.spine_record_id
    return chosen, None, await _records_of(ctx, chosen)


async def _hb_targets(ctx: RequestContext, keys: list[SubjectKey]) -> list[Target]:
    """The open claims to tell, with their councils. When HB does not answer, claims the link index names
    are taken as they are (their councils are read at delivery, when HB is back); a person known to HB
    only by the NINO cannot be routed without it, so then the notification is not accepted (the sender
    repeats it with the same key)."""
    if not keys:
        return []
    try:
        # Every council's open claims: the change goes to each council that has one (the sender is shown
        # only its own council's deliveries), so the question is whose claims, not what they hold.
        ask = await ctx.ask()
        routing = ask.asking(ask.selection, every_council=True)
        claims = await ctx.services.sources.hb.open_claims(keys, routing)
    except SourceError:
        if any(kind != "id" for kind, _ in keys):
            raise
        return [Target("hb", str(claim)) for _, claim in keys]
    return [Target("hb", claim, council) for claim, council in claims]


@strawberry.type(directives=tier("special_category"))
class NotificationMutation:
    @strawberry.mutation(
        description="Tell the hub of a change of circumstance; it is delivered to DWP and to the HB team of each "
        "council with an open claim, exactly once. Repeat with the same idempotency key to get the first answer."
    )
    async def notify_change(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        kind: Annotated[
            ChangeKind, strawberry.argument(description="What changed; the purpose decides which kinds it may send.")
        ],
        effective_date: Annotated[
            dt.date,
            strawberry.argument(
                description="The day the change took effect: not in the future, not before the person was born."
            ),
        ],
        idempotency_key: Annotated[
            str,
            strawberry.argument(
                description="Your own id for this notification: 1 to 200 printable characters, no NINO."
            ),
        ],
        nino: Annotated[
            str | None,
            strawberry.argument(description="The person's National Insurance number; null when you do not have it."),
        ] = None,
        person: Annotated[
            NotifiedPerson | None,
            strawberry.argument(description="Who the person is by their details: needed when there is no NINO."),
        ] = None,
    ) -> Notification:
        ctx = info.context
        if kind not in _KINDS_OF.get(purpose, frozenset()):
            raise BadUserInput(f"purpose {purpose.value} does not send {kind.name} notifications")
        if not 1 <= len(idempotency_key) <= 200 or not idempotency_key.isprintable():
            raise BadUserInput("idempotencyKey must be 1 to 200 printable characters")
        refuse_nino(idempotency_key, "idempotencyKey", identifier=True)
        if nino is None and person is None:
            raise BadUserInput("name the person: a nino, or their details when there is none")
        if effective_date > dt.date.today():
            raise InvalidEffectiveDate("the change is dated in the future: notify it when it has happened")
        request = json.dumps(
            {
                "kind": kind.value,
                "date": effective_date.isoformat(),
                "nino": nino,
                "person": None if person is None else {k: str(v) for k, v in dataclasses.asdict(person).items()},
            },
            sort_keys=True,
        )
        request_hash = ctx.services.key_ring.stable_hash("notification", request)
        # A repeated key is answered before the person is linked or their date of birth checked: a key reused
        # with one date after another must not tell when the person was born.
        earlier = await ctx.services.notifications.replay(ctx.caller.org, idempotency_key, request_hash)
        if earlier is not None:
            return _notification(earlier, await council_held(ctx))
        person_id, born, keys = await _link(ctx, nino, person)
        targets: list[Target] = []
        if person_id is not None:
            # The tie every council lookup needs: the sender must be connected with the person (a claim or case
            # at its council, a home in its area): an organisation may not tell the hub about, or learn the
            # routes of, just anyone.
            await require_relationship(ctx, keys, sources=_TIE_SOURCES)
            if born is None:  # not read while linking: once now
                people = await ctx.services.sources.dwp.people_of([("id", person_id)], await ctx.ask())
                born = people[0][1] if people else None
            if born is not None and effective_date < born:
                raise InvalidEffectiveDate("the change is dated before the person was born")
            if kind not in _HB_ONLY:
                targets.append(Target("dwp", person_id))
            targets += await _hb_targets(ctx, keys.get("hb", []))
            ctx.identity_sources.update(t.target for t in targets)
        subject = ctx.subjects[-1] if ctx.subjects else None
        accepted = await ctx.services.notifications.accept(
            sender_org=ctx.caller.org,
            sender_org_type=ctx.caller.org_type,
            sender_user_hash=ctx.user_hash,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            kind=kind.value,
            effective_date=effective_date,
            subject=(subject.key_id, subject.value) if subject else None,
            person_key=person_key_for(person_id) if person_id is not None else None,
            targets=targets,
        )
        return _notification(accepted, await council_held(ctx))


@strawberry.type(directives=tier("special_category"))
class NotificationQuery:
    @strawberry.field(description="A notification your organisation sent, with each delivery's status.")
    async def notification(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        notification_id: Annotated[
            strawberry.ID, strawberry.argument(description="The notification (Notification.notificationId, a UUID).")
        ],
    ) -> Notification | None:
        try:
            wanted = uuid.UUID(str(notification_id))
        except ValueError:
            raise BadUserInput("notificationId must be a notification id") from None
        found = await info.context.services.notifications.get(info.context.caller.org, wanted)
        return _notification(found, await council_held(info.context)) if found is not None else None
