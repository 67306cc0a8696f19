"""Delivering changes of circumstance on the wire: the source's own idempotent mutation, keyed by delivery id.

The hub's outbox hands a source's adapter a batch of claimed deliveries; over a subgraph they become
``Mutation.deliverChanges``, asked under the purpose each change was sent for (a stay in hospital or a
care home: CHANGE_NOTIFICATION; overnight care: OVERNIGHT_CARE_CONFIRMATION), for the sender's type of
organisation, under the notification's id as the audit id (the source's access log then names the
notification each delivery came from). One assertion says one purpose, one sender and one audit id, so a
batch is one call per (purpose, sender type, notification): a notification's deliveries to one source go
together. The receipt is checked before it is believed: only delivery ids that were sent, only councils
for the claims sent without one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from resolvers.sources.base import InboxChange
from resolvers.sources.contract import Ask
from resolvers.sources.remote.wire import Malformed, check_answer

__all__ = [
    "DELIVERY_COORDINATES",
    "DELIVERY_LEGAL_BASES",
    "DELIVER_MUTATION",
    "HUB_ORG",
    "change_input",
    "decode_receipt",
    "delivery_asks",
    "delivery_purpose",
]

DELIVER_MUTATION = "mutation($c:[InboxChangeInput!]!){deliverChanges(changes:$c){landed routed{claimRef councilCode}}}"
DELIVERY_COORDINATES: tuple[str, ...] = (
    "Mutation.deliverChanges",
    "DeliveryReceipt.landed",
    "DeliveryReceipt.routed",
    "RoutedClaim.claimRef",
    "RoutedClaim.councilCode",
)
#: The hub delivers on the sender's behalf: the assertion's organisation is the hub, its type the sender's.
HUB_ORG = "welfare-hub"

_OVERNIGHT = frozenset({"overnight_care_started", "overnight_care_ended"})
#: The legal basis of each purpose a change is delivered under (the hub's register, policy/purposes.toml;
#: a test keeps them equal).
DELIVERY_LEGAL_BASES: Mapping[str, str] = {
    "CHANGE_NOTIFICATION": "SI 2012/1483 reg. 5; Social Security Administration Act 1992 s.7A "
    "(information about changes of circumstances)",
    "OVERNIGHT_CARE_CONFIRMATION": "SI 2012/1483 reg. 5(1)(h), Housing Benefit Regulations 2006 reg. B13(6)",
}


def delivery_purpose(kind: str | None) -> str:
    """The purpose a change of this kind was sent for (resolvers/notifications.py: which purpose sends which)."""
    return "OVERNIGHT_CARE_CONFIRMATION" if kind in _OVERNIGHT else "CHANGE_NOTIFICATION"


def _audit_id(change: InboxChange) -> uuid.UUID:
    return change.notification_id if change.notification_id is not None else change.delivery_id


def delivery_asks(changes: Sequence[InboxChange]) -> list[tuple[Ask, list[InboxChange]]]:
    """The changes grouped by the assertion each needs, in first-seen order."""
    groups: dict[tuple[str, str, str, uuid.UUID], list[InboxChange]] = {}
    for change in changes:
        key = (delivery_purpose(change.kind), change.sender_org or "", change.sender_org_type or "", _audit_id(change))
        groups.setdefault(key, []).append(change)
    selection = {
        "Mutation": frozenset({"deliverChanges"}),
        "DeliveryReceipt": frozenset({"landed", "routed"}),
        "RoutedClaim": frozenset({"claimRef", "councilCode"}),
    }
    return [
        (
            Ask(
                purpose=purpose,
                legal_basis=DELIVERY_LEGAL_BASES[purpose],
                org=org or HUB_ORG,  # the sender, as the hub recorded it
                org_type=org_type or "hub",
                audit_id=audit_id,
                selection=selection,
                councils=None,  # a change goes to the record it is about, whichever council holds it
            ),
            group,
        )
        for (purpose, org, org_type, audit_id), group in groups.items()
    ]


def change_input(change: InboxChange, *, with_council: bool) -> dict[str, Any]:
    """One InboxChangeInput (a change of circumstance always has its notification, kind and date)."""
    if change.notification_id is None or change.kind is None or change.effective_date is None:
        raise ValueError("a change of circumstance names its notification, kind and date")
    out: dict[str, Any] = {
        "deliveryId": str(change.delivery_id),
        "notificationId": str(change.notification_id),
        "kind": change.kind.upper(),
        "effectiveDate": change.effective_date.isoformat(),
        "targetRef": change.target_ref,
    }
    if with_council:
        out["councilCode"] = change.council_code
    return out


def decode_receipt(payload: Any, sent: Sequence[InboxChange]) -> dict[str, str]:
    """The councils learnt (claim ref -> council) from a receipt for ``sent``; Malformed unless every id and
    claim in it was sent (a receipt naming others is not this call's)."""
    data, errors = check_answer(payload)
    if errors or not isinstance(data, dict) or data.keys() != {"deliverChanges"}:
        raise Malformed("the delivery failed")
    receipt = data["deliverChanges"]
    if not isinstance(receipt, dict) or receipt.keys() != {"landed", "routed"}:
        raise Malformed("not a delivery receipt")
    landed, routed = receipt["landed"], receipt["routed"]
    ids = {str(c.delivery_id) for c in sent}
    if not isinstance(landed, list) or not all(isinstance(i, str) and i in ids for i in landed):
        raise Malformed("a receipt for deliveries not sent")
    unrouted = {c.target_ref for c in sent if c.council_code is None}
    councils: dict[str, str] = {}
    if not isinstance(routed, list):
        raise Malformed("not a delivery receipt")
    for claim in routed:
        if not isinstance(claim, dict) or claim.keys() != {"claimRef", "councilCode"}:
            raise Malformed("a routed claim without its reference or council")
        ref, council = claim["claimRef"], claim["councilCode"]
        if not isinstance(ref, str) or not isinstance(council, str) or ref not in unrouted:
            raise Malformed("a council for a claim not routed in this call")
        councils[ref] = council
    return councils
