"""The audit receipt every audited GraphQL response carries (hub.audit.receipts), for tests that compare
whole response bodies: the receipt is different for every request (its own record), the rest is not."""

from __future__ import annotations

from typing import Any

from hub.audit.receipts import RECEIPT_FORMAT


def without_receipt(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without its ``extensions.auditReceipt``, which must be there: the response was audited."""
    extensions = dict(body.get("extensions") or {})
    receipt = extensions.pop("auditReceipt", None)
    assert isinstance(receipt, dict), body
    assert receipt.get("format") == RECEIPT_FORMAT, body
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest
