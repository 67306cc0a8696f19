"""The answers of the link build's questions and of a delivery are checked before they are believed (pure:
the decoders on hand-made answers): a receipt naming what was not sent, a feed page out of order or
repeating its cursor, is malformed (the source is unavailable for that call, nothing of it is used)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from hub.records.notifications import OutboxItem
from resolvers.sources.remote.candidates import CANDIDATE_FIELDS, decode_feed
from resolvers.sources.remote.delivery import change_input, decode_receipt, delivery_asks
from resolvers.sources.remote.wire import Malformed, Refusal


def item(ref: str, council: str | None = None, notification: uuid.UUID | None = None) -> OutboxItem:
    return OutboxItem(
        delivery_id=uuid.uuid4(),
        target="hb",
        target_ref=ref,
        council_code=council,
        notification_id=notification or uuid.uuid4(),
        kind="care_home_admission",
        effective_date=dt.date(2025, 1, 2),
        sender_org="sender-org",
        sender_org_type="almo",
        correction_id=None,
        field=None,
        request_ids=(),
    )


def receipt(landed: list[str], routed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"deliverChanges": {"landed": landed, "routed": routed}}}


def test_a_receipt_gives_the_councils_learnt() -> None:
    a, b = item("HB1"), item("HB2", "E1")
    found = decode_receipt(receipt([str(a.delivery_id)], [{"claimRef": "HB1", "councilCode": "E9"}]), [a, b])
    assert found == {"HB1": "E9"}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda a, b: receipt([str(uuid.uuid4())], []), id="an-id-not-sent"),
        pytest.param(lambda a, b: receipt([], [{"claimRef": "HB2", "councilCode": "E9"}]), id="a-claim-sent-with-one"),
        pytest.param(lambda a, b: receipt([], [{"claimRef": "HB7", "councilCode": "E9"}]), id="a-claim-not-sent"),
        pytest.param(lambda a, b: receipt([], [{"claimRef": "HB1"}]), id="no-council"),
        pytest.param(lambda a, b: {"data": {"deliverChanges": {"landed": []}}}, id="no-routed"),
        pytest.param(lambda a, b: {"data": None, "errors": [{"message": "x"}]}, id="an-error"),
        pytest.param(lambda a, b: {"data": {"deliverChanges": None}}, id="null"),
    ],
)
def test_a_receipt_naming_what_was_not_sent_is_malformed(bad: Any) -> None:
    a, b = item("HB1"), item("HB2", "E1")
    with pytest.raises(Malformed):
        decode_receipt(bad(a, b), [a, b])


def test_a_refused_delivery_is_a_refusal() -> None:
    with pytest.raises(Refusal):
        decode_receipt({"data": None, "errors": [{"extensions": {"code": "FIELD_NOT_ALLOWED"}}]}, [item("HB1")])


def test_one_assertion_per_notification_and_sender() -> None:
    n = uuid.uuid4()
    batch = [item("HB1", notification=n), item("HB2"), item("HB3", notification=n)]
    groups = delivery_asks(batch)
    assert [[c.target_ref for c in g] for _, g in groups] == [["HB1", "HB3"], ["HB2"]]
    ask, _ = groups[0]
    assert (ask.purpose, ask.org_type, ask.audit_id, ask.councils) == ("CHANGE_NOTIFICATION", "almo", n, None)
    assert change_input(batch[0], with_council=False)["kind"] == "CARE_HOME_ADMISSION"
    assert "councilCode" not in change_input(batch[0], with_council=False)


def page(*ids: str, order: list[int] | None = None) -> dict[str, Any]:
    rows = [{**dict.fromkeys(CANDIDATE_FIELDS), "query": i, "recordId": r} for i, r in enumerate(ids)]
    if order is not None:
        rows = [{**rows[j], "query": j} for j in order]
    return {"data": {"feed": rows}}


def test_a_feed_page_in_order_is_the_records() -> None:
    assert [r.record_id for r in decode_feed(page("a", "b"), limit=2, after=None)] == ["a", "b"]


@pytest.mark.parametrize(
    ("answer", "limit", "after"),
    [
        pytest.param(page("a", "b", order=[1, 0]), 2, None, id="out-of-order"),
        pytest.param(page("a", "a"), 2, None, id="a-record-twice"),
        pytest.param(page("a", "b"), 2, "b", id="the-cursor-again"),
        pytest.param(page("a", "b", "c"), 2, None, id="past-the-limit"),
    ],
)
def test_a_feed_page_that_could_loop_is_malformed(answer: dict[str, Any], limit: int, after: str | None) -> None:
    with pytest.raises(Malformed):
        decode_feed(answer, limit=limit, after=after)
