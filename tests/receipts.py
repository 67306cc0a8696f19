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


#: What differs in a receipt from one request to the next whatever it asked: its place and its signature.
PER_REQUEST = frozenset({"seq", "recordHash", "requestId", "occurredAt", "signature"})


def public_part(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as a caller could compare two answers: everything but the receipt's per-request fields (the
    receipt's decision and fields released stay: they are part of the answer)."""
    extensions = dict(body.get("extensions") or {})
    receipt = extensions.get("auditReceipt")
    assert isinstance(receipt, dict), body
    extensions["auditReceipt"] = {k: v for k, v in receipt.items() if k not in PER_REQUEST}
    return {**body, "extensions": extensions}
