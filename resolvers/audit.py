"""The audit log in GraphQL: for auditors (purpose AUDIT), for a person's subject access request (purpose
SUBJECT_ACCESS); the transparency report for everyone is in :mod:`resolvers.transparency`.

Auditors see who obtained data, when, why, on what basis and which fields, never the data itself; the
people concerned appear only as the auditor organisation's own pseudonyms (two auditors' outputs cannot be
joined), and a NINO given as a filter is hashed on the way in, under every key of the ring.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.access.freetext import free_text
from hub.audit.anomalies import Anomaly
from hub.audit.events import EventFilter, EventRow, Hold
from hub.audit.verify import Verification
from hub.errors import BadUserInput
from resolvers import arguments
from resolvers.arguments import number, page_size, period
from resolvers.context import RequestContext
from resolvers.corrections import CorrectionStatus
from resolvers.pages import AfterArgument, after_id, encode, page
from resolvers.sensitivity import tier
from resolvers.types import Purpose, PurposeArgument, describe_values

__all__ = [
    "AnomalyKind",
    "AuditDecision",
    "AuditMutation",
    "AuditProblemKind",
    "AuditQuery",
    "LinkMethod",
    "OperationType",
    "SpanKind",
    "SpanStatus",
]

#: Purposes that read the audit log itself: a person's report lists who received their data, not the
#: oversight of those releases (which could also tip off an investigation).
_OVERSIGHT = (Purpose.AUDIT.value, Purpose.SUBJECT_ACCESS.value)


@strawberry.enum(description="How an operation ended, as its audit record says.")
class AuditDecision(Enum):
    RELEASED = "released"
    PARTIAL = "partial"
    REFUSED = "refused"
    ERROR = "error"


describe_values(
    AuditDecision,
    {
        AuditDecision.RELEASED: "Everything asked for was released.",
        AuditDecision.PARTIAL: "Some fields were released beside a refusal or a failure.",
        AuditDecision.REFUSED: "The hub decided to release nothing (the register, the law or a protection said so).",
        AuditDecision.ERROR: "The hub could not answer: nothing was released.",
    },
)


@strawberry.enum(description="The kind of GraphQL operation a request sent.")
class OperationType(Enum):
    QUERY = "query"
    MUTATION = "mutation"
    SUBSCRIPTION = "subscription"


describe_values(
    OperationType,
    {
        OperationType.QUERY: "A query: it reads.",
        OperationType.MUTATION: "A mutation: it records something (a consent, a notification, a correction, ...).",
        OperationType.SUBSCRIPTION: "A subscription: the hub offers none, so it was refused (OPERATION_NOT_SUPPORTED).",
    },
)


@strawberry.enum(description="How the hub found the person an operation named.")
class LinkMethod(Enum):
    NINO = "nino"
    LINK_INDEX = "link_index"
    PROBABILISTIC = "probabilistic"


describe_values(
    LinkMethod,
    {
        LinkMethod.NINO: "By the NINO given, in the sources' own NINO columns (the link index did not know it yet).",
        LinkMethod.LINK_INDEX: "By the NINO given, through the link index of every source's records of the person.",
        LinkMethod.PROBABILISTIC: "By the details given (no NINO), matched by the linkage model.",
    },
)


@strawberry.enum(description="What is wrong in the audit chain.")
class AuditProblemKind(Enum):
    MISSING = "missing"
    ALTERED = "altered"
    BROKEN_LINK = "broken_link"
    OUT_OF_ORDER = "out_of_order"
    DUPLICATE = "duplicate"
    UNCHAINED = "unchained"
    FORGED_CHECKPOINT = "forged_checkpoint"
    REWRITTEN = "rewritten"


describe_values(
    AuditProblemKind,
    {
        AuditProblemKind.MISSING: "Records are missing: the sequence jumps, or a checkpoint signed past the log's end.",
        AuditProblemKind.ALTERED: "A record's content, position or time is not what was hashed.",
        AuditProblemKind.BROKEN_LINK: "A record does not follow the one before it (inserted or reordered).",
        AuditProblemKind.OUT_OF_ORDER: "A record is dated before the one before it.",
        AuditProblemKind.DUPLICATE: "Two records claim one place in the chain.",
        AuditProblemKind.UNCHAINED: "A record outside the chain (no sequence number or hashes), and not a documented "
        "one from before the chain.",
        AuditProblemKind.FORGED_CHECKPOINT: "A checkpoint signed by an unknown key, or its signature does not verify.",
        AuditProblemKind.REWRITTEN: "A checkpoint signed a head the log no longer has: the log was rewritten.",
    },
)


@strawberry.enum(description="A pattern in the audit log for an auditor to look at (not a verdict).")
class AnomalyKind(Enum):
    OWN_RECORD = "own_record"
    SAME_ADDRESS = "same_address"
    FISHING = "fishing"
    VOLUME = "volume"
    OUT_OF_HOURS = "out_of_hours"


describe_values(
    AnomalyKind,
    {
        AnomalyKind.OWN_RECORD: "A user looked for their own record (the hub refused it; every attempt is shown).",
        AnomalyKind.SAME_ADDRESS: "Data released about someone who lives where the user lives.",
        AnomalyKind.FISHING: "Many lookups by one user that named no one they may ask about (not found, not "
        "connected with their area, or too close to call).",
        AnomalyKind.VOLUME: "A user's lookups far above their organisation's other users.",
        AnomalyKind.OUT_OF_HOURS: "Lookups before or after working hours (UK time) or at weekends.",
    },
)


@strawberry.enum(description="A span's kind (OpenTelemetry's span kinds).")
class SpanKind(Enum):
    SERVER = "server"
    INTERNAL = "internal"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


describe_values(
    SpanKind,
    {
        SpanKind.SERVER: "Serving a request that came in (the hub's request, a subgraph's answer).",
        SpanKind.INTERNAL: "A step inside one process (the purpose decision, the link, the audit write).",
        SpanKind.CLIENT: "A call out: to a source, a subgraph or the hub's own database.",
        SpanKind.PRODUCER: "A message sent for later handling.",
        SpanKind.CONSUMER: "A message received for handling.",
    },
)


@strawberry.enum(description="How a span ended (OpenTelemetry's status codes).")
class SpanStatus(Enum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


describe_values(
    SpanStatus,
    {
        SpanStatus.UNSET: "Nothing said: it did not fail.",
        SpanStatus.OK: "Marked as a success.",
        SpanStatus.ERROR: "It failed.",
    },
)


@strawberry.type(description="One attribute of a span (its value as JSON).", directives=tier("identity"))
class SpanAttribute:
    key: str = strawberry.field(description="The attribute's name (OpenTelemetry conventions, welfare_hub.*).")
    value: str = strawberry.field(description="Its value, as JSON.")


@strawberry.type(description="One span of a request's trace.", directives=tier("identity"))
class TraceSpan:
    span_id: str = strawberry.field(description="The span's id (hex).")
    parent_span_id: str | None = strawberry.field(description="Its parent's id, if it has one in this trace.")
    name: str = strawberry.field(description="What it timed.")
    kind: SpanKind = strawberry.field(description="What kind of step it was (client: a call to a source).")
    started_at: dt.datetime = strawberry.field(description="When it started.")
    duration_ms: float = strawberry.field(description="How long it took, in milliseconds.")
    status: SpanStatus = strawberry.field(description="How it ended.")
    attributes: list[SpanAttribute] = strawberry.field(description="What it recorded (never personal data).")


@strawberry.type(
    description="One operation the hub answered or refused, as its audit record holds it.", directives=tier("identity")
)
class AuditEvent:
    event_id: strawberry.ID = strawberry.field(description="Its place in the chain (sequence number).")
    occurred_at: dt.datetime = strawberry.field(description="When the hub recorded it (UTC).")
    request_id: str = strawberry.field(description="The request's id.")
    operation_type: OperationType | None = strawberry.field(
        description="The kind of operation; null if the document never parsed."
    )
    operation_name: str | None = strawberry.field(description="The operation's name, if a plain identifier.")
    caller_org: str = strawberry.field(description="The organisation that asked.")
    caller_org_type: str = strawberry.field(description="Its type.")
    caller_user: str = strawberry.field(description="The user, as the hub's keyed hash (their organisation can tell).")
    purpose: Purpose | None = strawberry.field(description="The purpose declared; null if none was.")
    legal_basis: str | None = strawberry.field(description="The legal basis of that purpose.")
    subjects: list[strawberry.ID] = strawberry.field(description="The people concerned, as your pseudonyms.")
    link_method: LinkMethod | None = strawberry.field(
        description="How the person was found; null if no one was looked for."
    )
    link_probability: float | None = strawberry.field(description="For a probabilistic match, how likely.")
    model_version: str | None = strawberry.field(description="The linkage model used.")
    fields_released: list[str] = strawberry.field(description="The fields that left the hub (Type.field).")
    sources_read: list[str] = strawberry.field(description="The sources read.")
    decision: AuditDecision = strawberry.field(description="How the operation ended.")
    reason_codes: list[str] = strawberry.field(description="Why (error codes).")
    trace_id: str | None = strawberry.field(description="The trace of the request (W3C trace id).")
    record_hash: str = strawberry.field(description="The record's hash in the chain (hex).")

    @strawberry.field(description="The request's spans as the hub kept them (empty once pruned, or never kept).")
    async def trace(self, info: Info[RequestContext, None]) -> list[TraceSpan]:
        if not self.trace_id:
            return []
        return [
            TraceSpan(
                span_id=s.span_id,
                parent_span_id=s.parent_span_id,
                name=s.name,
                kind=SpanKind(s.kind),
                started_at=s.started_at,
                duration_ms=s.duration_us / 1000,
                status=SpanStatus(s.status),
                attributes=[
                    SpanAttribute(key=k, value=json.dumps(v, sort_keys=True)) for k, v in sorted(s.attributes.items())
                ],
            )
            for s in await info.context.services.audit_log.spans(self.trace_id)
        ]


#: The field whose cursors are the sequence numbers of events.
EVENTS = "auditEvents"


def events_cursor(event_id: str) -> strawberry.ID:
    """The auditEvents cursor after the event ``event_id`` (an AuditEvent.eventId): for a client in this
    process (the auditor console) that ends its page part way through one of ours."""
    return encode(EVENTS, (number(event_id, "eventId"),))


@strawberry.type(description="A page of audit events, newest first.", directives=tier("identity"))
class AuditEventPage:
    items: list[AuditEvent] = strawberry.field(description="The events.")
    next_cursor: strawberry.ID | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="Something wrong in the audit chain.", directives=tier("identity"))
class AuditProblem:
    kind: AuditProblemKind = strawberry.field(description="What kind of problem it is.")
    event_id: strawberry.ID | None = strawberry.field(description="The record (sequence number) it concerns.")
    message: str = strawberry.field(description="What is wrong.")


@strawberry.type(description="A public key that signs audit checkpoints.", directives=tier("identity"))
class AuditPublicKey:
    key_id: str = strawberry.field(description="Its id, as checkpoints name it.")
    public_key: str = strawberry.field(description="The Ed25519 public key (base64 of its 32 bytes).")


@strawberry.type(
    description="The audit chain, recomputed: every hash and every checkpoint signature.", directives=tier("identity")
)
class AuditVerification:
    ok: bool = strawberry.field(description="Whether the whole chain verified.")
    verified_at: dt.datetime = strawberry.field(description="When this verification ran.")
    records: int = strawberry.field(description="Records checked.")
    last_event_id: strawberry.ID | None = strawberry.field(description="The chain's head.")
    head_hash: str | None = strawberry.field(description="The head's hash (hex).")
    checkpoints: int = strawberry.field(description="Signed checkpoints checked.")
    last_checkpoint_event_id: strawberry.ID | None = strawberry.field(description="The last record signed.")
    unsigned_records: int = strawberry.field(description="Records after the last checkpoint (chained, not signed).")
    problems: list[AuditProblem] = strawberry.field(description="What is wrong, first first (empty when ok).")
    public_keys: list[AuditPublicKey] = strawberry.field(description="The keys trusted to sign checkpoints.")


@strawberry.type(description="One release of a person's data.", directives=tier("identity"))
class SubjectAccessEntry:
    event_id: strawberry.ID = strawberry.field(description="The audit event (for a complaint about it).")
    occurred_at: dt.datetime = strawberry.field(description="When.")
    organisation: str = strawberry.field(description="Which organisation received it.")
    organisation_type: str = strawberry.field(description="What kind of organisation.")
    purpose: Purpose | None = strawberry.field(description="For which purpose.")
    legal_basis: str | None = strawberry.field(description="On what legal basis.")
    fields: list[str] = strawberry.field(description="Which fields.")


@strawberry.type(description="A correction of the person's shared data.", directives=tier("identity"))
class SubjectAccessCorrection:
    field: str = strawberry.field(description="Which information was reported wrong.")
    status: CorrectionStatus = strawberry.field(description="Where the correction stands.")
    reported_at: dt.datetime = strawberry.field(description="When it was reported.")
    decided_at: dt.datetime | None = strawberry.field(description="When the organisation holding it decided.")
    organisations_notified: list[str] = strawberry.field(description="Who was told of the correction.")


@strawberry.type(
    description="Every release of one person's data through the hub (UK GDPR Art. 15).", directives=tier("identity")
)
class SubjectAccessReport:
    generated_at: dt.datetime = strawberry.field(description="When the report was made.")
    entries: list[SubjectAccessEntry] = strawberry.field(description="The releases, oldest first.")
    corrections: list[SubjectAccessCorrection] = strawberry.field(
        description="Corrections of the person's shared data, and who was told of each."
    )


@strawberry.type(
    description="An investigation hold: one audit record kept out of subject access reports.",
    directives=tier("identity"),
)
class AuditHold:
    hold_id: strawberry.ID = strawberry.field(description="The hold's number.")
    event_id: strawberry.ID = strawberry.field(description="The audit record held back.")
    reason: str = strawberry.field(description="Why (a reference, never personal data).")
    placed_at: dt.datetime = strawberry.field(description="When it was placed.")
    lifted_at: dt.datetime | None = strawberry.field(description="When it was lifted (the entry shows from then).")


@strawberry.type(description="A pattern for an auditor to look at; not a verdict.", directives=tier("identity"))
class AuditAnomaly:
    kind: AnomalyKind = strawberry.field(description="What pattern was seen.")
    organisation: str = strawberry.field(description="The user's organisation.")
    user: str = strawberry.field(description="The user, as the hub's keyed hash.")
    count: int = strawberry.field(description="How many operations.")
    detail: str = strawberry.field(description="What was seen.")
    first_event_id: strawberry.ID = strawberry.field(description="The first of them.")
    last_event_id: strawberry.ID = strawberry.field(description="The last of them.")


def _event(ctx: RequestContext, row: EventRow) -> AuditEvent:
    pseudonym = ctx.services.key_ring.pseudonym
    return AuditEvent(
        event_id=strawberry.ID(str(row.seq)),
        occurred_at=row.occurred_at,
        request_id=row.request_id,
        operation_type=OperationType(row.operation_type) if row.operation_type is not None else None,
        operation_name=row.operation_name,
        caller_org=row.caller_org,
        caller_org_type=row.caller_org_type,
        caller_user=row.caller_user_hash,
        purpose=Purpose(row.purpose) if row.purpose is not None else None,
        legal_basis=row.legal_basis,
        subjects=[strawberry.ID(pseudonym(ctx.caller.org, f"audit-subject:{h}")) for h in row.subject_hashes],
        link_method=LinkMethod(row.link_method) if row.link_method is not None else None,
        link_probability=row.link_probability,
        model_version=row.model_version,
        fields_released=list(row.fields_released),
        sources_read=list(row.sources_read),
        decision=AuditDecision(row.decision),
        reason_codes=list(row.reason_codes),
        trace_id=row.trace_id,
        record_hash=row.record_hash,
    )


def _hold(h: Hold) -> AuditHold:
    return AuditHold(
        hold_id=strawberry.ID(str(h.hold_id)),
        event_id=strawberry.ID(str(h.seq)),
        reason=h.reason,
        placed_at=h.placed_at,
        lifted_at=h.lifted_at,
    )


def _subject(ctx: RequestContext, nino: str) -> list[str]:
    """A person named by NINO, as the audit log knows them: their keyed hash under every key of the ring."""
    hashes = ctx.services.key_ring.hash_all(arguments.nino(nino))
    ctx.subjects.append(hashes[0])  # the auditor's own lookup names the person in its audit record
    return [h.value for h in hashes]


def _verification(at: dt.datetime, report: Verification, keys: dict[str, str]) -> AuditVerification:
    return AuditVerification(
        ok=report.ok,
        verified_at=at,
        records=report.records,
        last_event_id=strawberry.ID(str(report.last_seq)) if report.last_seq else None,
        head_hash=report.head_hash.hex() if report.head_hash else None,
        checkpoints=report.checkpoints,
        last_checkpoint_event_id=strawberry.ID(str(report.last_checkpoint_seq)) if report.last_checkpoint_seq else None,
        unsigned_records=report.unsigned,
        problems=[
            AuditProblem(
                kind=AuditProblemKind(p.kind),
                event_id=strawberry.ID(str(p.seq)) if p.seq is not None else None,
                message=p.message,
            )
            for p in report.problems
        ],
        public_keys=[AuditPublicKey(key_id=k, public_key=v) for k, v in sorted(keys.items())],
    )


def _anomaly(a: Anomaly) -> AuditAnomaly:
    return AuditAnomaly(
        kind=AnomalyKind(a.kind),
        organisation=a.caller_org,
        user=a.caller_user_hash,
        count=a.count,
        detail=a.detail,
        first_event_id=strawberry.ID(str(a.first_seq)),
        last_event_id=strawberry.ID(str(a.last_seq)),
    )


@strawberry.type(directives=tier("identity"))
class AuditQuery:
    @strawberry.field(description="Audit events, newest first, filtered; cursor pagination (pass nextCursor as after).")
    async def audit_events(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        since: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="Only events at or after this time (with a UTC offset); null for no lower bound."
            ),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="Only events before this time (with a UTC offset); null for no upper bound."
            ),
        ] = None,
        organisation: Annotated[
            str | None,
            strawberry.argument(
                description="Only events of this calling organisation (its id); null for every organisation."
            ),
        ] = None,
        for_purpose: Annotated[
            Purpose | None,
            strawberry.argument(description="Only events declaring this purpose; null for every purpose."),
        ] = None,
        decision: Annotated[
            AuditDecision | None,
            strawberry.argument(description="Only events that ended this way; null for all."),
        ] = None,
        subject_nino: Annotated[
            str | None,
            strawberry.argument(
                description="Only events concerning the person with this National Insurance number; null for everyone."
            ),
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many events to return, 1 to 500.")] = 50,
        after: AfterArgument = None,
    ) -> AuditEventPage:
        ctx = info.context
        page_size(first, 500)
        if (since and since.tzinfo is None) or (until and until.tzinfo is None):
            raise BadUserInput("give times with a UTC offset (2026-01-31T00:00:00Z)")
        f = EventFilter(
            since=since,
            until=until,
            organisation=organisation,
            purpose=for_purpose.value if for_purpose is not None else None,
            decision=decision.value if decision is not None else None,
            subject_hashes=_subject(ctx, subject_nino) if subject_nino is not None else None,
        )
        rows = await ctx.services.audit_log.events(f, limit=first + 1, before=after_id(after, EVENTS))
        shown, next_cursor = page(rows, first, EVENTS, lambda r: (r.seq,))
        return AuditEventPage(items=[_event(ctx, r) for r in shown], next_cursor=next_cursor)

    @strawberry.field(description="One audit event by its id (sequence number).")
    async def audit_event(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        event_id: Annotated[
            strawberry.ID, strawberry.argument(description="The event (AuditEvent.eventId, its sequence number).")
        ],
    ) -> AuditEvent | None:
        row = await info.context.services.audit_log.event(number(event_id, "eventId"))
        return _event(info.context, row) if row is not None else None

    @strawberry.field(description="The audit chain verified: every hash and checkpoint signature recomputed.")
    async def audit_verification(self, info: Info[RequestContext, None], purpose: PurposeArgument) -> AuditVerification:
        at, report = await info.context.services.audit_verification.status()
        keys = info.context.services.audit_public_keys
        return _verification(at, report, dict(keys))

    @strawberry.field(
        description="Patterns for review: own-record attempts, same-address releases, volume far above peers, "
        "lookups out of hours."
    )
    async def audit_anomalies(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        since: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="The start of the period (inclusive), with a UTC offset; null for 30 days before until."
            ),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="The end of the period (exclusive), with a UTC offset; "
                "null for now. At most a year after since."
            ),
        ] = None,
    ) -> list[AuditAnomaly]:
        start, end = period(since, until)
        ask = await info.context.ask()
        dwp = info.context.services.sources.dwp

        async def homes(person_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
            return await dwp.homes(person_ids, ask)

        return [_anomaly(a) for a in await info.context.services.audit_log.anomalies(start, end, homes=homes)]

    @strawberry.field(
        description="Every release of one person's data: when, to whom, for what, on what basis, which fields."
    )
    async def subject_access_report(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        nino: Annotated[str, strawberry.argument(description="The person's National Insurance number.")],
    ) -> SubjectAccessReport:
        ctx = info.context
        now = dt.datetime.now(dt.UTC)
        hashes = _subject(ctx, nino)
        rows = await ctx.services.audit_log.subject_access(hashes, now=now, oversight=_OVERSIGHT)
        corrections = await ctx.services.corrections.of_subject(hashes)
        return SubjectAccessReport(
            generated_at=now,
            entries=[
                SubjectAccessEntry(
                    event_id=strawberry.ID(str(r.seq)),
                    occurred_at=r.occurred_at,
                    organisation=r.caller_org,
                    organisation_type=r.caller_org_type,
                    purpose=Purpose(r.purpose) if r.purpose is not None else None,
                    legal_basis=r.legal_basis,
                    fields=list(r.fields_released),
                )
                for r in rows
            ],
            corrections=[
                SubjectAccessCorrection(
                    field=c.field,
                    status=CorrectionStatus(c.status),
                    reported_at=c.reported_at,
                    decided_at=c.decided_at,
                    organisations_notified=list(c.notified),
                )
                for c in corrections
            ],
        )


@strawberry.type(directives=tier("identity"))
class AuditMutation:
    @strawberry.mutation(description="Keep one audit record out of subject access reports until lifted.")
    async def place_investigation_hold(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        event_id: Annotated[
            strawberry.ID, strawberry.argument(description="The audit event to hold back (AuditEvent.eventId).")
        ],
        reason: Annotated[
            str, strawberry.argument(description="Why: a case reference, at most 500 characters, never personal data.")
        ],
    ) -> AuditHold | None:
        hold = await info.context.services.audit_log.place_hold(
            number(event_id, "eventId"),
            reason=free_text(reason, "reason (a case reference)", maximum=500),
            placed_by=info.context.user_hash,
        )
        return _hold(hold) if hold is not None else None

    @strawberry.mutation(description="Lift a hold: the entry shows in subject access reports from now on.")
    async def lift_investigation_hold(
        self,
        info: Info[RequestContext, None],
        purpose: PurposeArgument,
        hold_id: Annotated[strawberry.ID, strawberry.argument(description="The hold to lift (AuditHold.holdId).")],
    ) -> AuditHold | None:
        hold = await info.context.services.audit_log.lift_hold(
            number(hold_id, "holdId"), lifted_by=info.context.user_hash
        )
        return _hold(hold) if hold is not None else None
